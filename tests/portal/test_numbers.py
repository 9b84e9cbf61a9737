"""Organisation and mobile numbers: the pure checks and the messages users see."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from portal.lib.norway import NumberError, normalize_norwegian_mobile, normalize_org_number
from portal.validators import validate_norwegian_mobile, validate_org_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [("983544622", "983544622"), ("983 544 622", "983544622"), ("974760673", "974760673")],
)
def test_valid_org_numbers_are_normalized(value, expected):
    assert normalize_org_number(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [("983544623", "checksum"), ("12345678", "length"), ("98354462X", "format")],
)
def test_invalid_org_numbers_say_why(value, code):
    with pytest.raises(NumberError) as error:
        normalize_org_number(value)
    assert error.value.code == code


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("983544623", "feil kontrollsiffer"),
        ("12345678", "nøyaktig 9 sifre"),
        ("98354462X", "kun inneholde sifre"),
    ],
)
def test_org_number_messages_are_norwegian(value, message):
    with translation.override("nb"), pytest.raises(ValidationError) as error:
        validate_org_number(value)
    assert message in error.value.messages[0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("91234567", "+4791234567"),
        ("+47 412 34 567", "+4741234567"),
        ("0047 912 34 567", "+4791234567"),
    ],
)
def test_norwegian_mobiles_are_stored_as_e164(value, expected):
    assert normalize_norwegian_mobile(value) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("22334455", "not_mobile"),  # Oslo landline
        ("9123456", "not_mobile"),  # seven digits
        ("+46701234567", "not_norwegian"),  # Swedish mobile
        ("ring meg", "unparseable"),
    ],
)
def test_non_mobiles_are_refused_with_a_reason(value, code):
    with pytest.raises(NumberError) as error:
        normalize_norwegian_mobile(value)
    assert error.value.code == code


def test_mobile_message_tells_the_user_what_a_mobile_looks_like():
    with translation.override("nb"), pytest.raises(ValidationError) as error:
        validate_norwegian_mobile("22334455")
    assert "8 sifre og begynne med 4 eller 9" in error.value.messages[0]


def test_empty_mobile_is_allowed_but_counted_as_missing_elsewhere():
    validate_norwegian_mobile("")
