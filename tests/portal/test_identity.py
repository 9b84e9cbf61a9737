"""portal.lib.identity: national identity number checks and their keyed hash (pure functions, no database)."""

from __future__ import annotations

import datetime
import re

import pytest

from portal.lib.identity import IdentityCheck, check_identity_number, identity_hash, with_check_digits


def number(birth: str, individual: int = 100) -> str:
    """Birth digits (DDMMYY, offsets included) and the first individual number that has check digits."""
    for candidate in range(individual, 1000):
        result = with_check_digits(f"{birth}{candidate:03d}")
        if result is not None:
            return result
    raise ValueError(birth)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(number("010190"), IdentityCheck.VALID, id="fodselsnummer-1990"),
        pytest.param(number("311299", 500), IdentityCheck.VALID, id="fodselsnummer-2099-or-1899-by-individual"),
        pytest.param(number("290200", 500), IdentityCheck.VALID, id="29-february-2000"),
        pytest.param(number("410190"), IdentityCheck.D_NUMBER, id="d-number-day-plus-40"),
        pytest.param(number("714190"), IdentityCheck.SYNTHETIC, id="d-number-and-month-plus-40"),
        pytest.param(number("014190"), IdentityCheck.SYNTHETIC, id="month-plus-40"),
        pytest.param(number("015290"), IdentityCheck.SYNTHETIC, id="month-plus-40-december"),
        pytest.param(number("018190"), IdentityCheck.SYNTHETIC, id="month-plus-80"),
        pytest.param(number("019290"), IdentityCheck.SYNTHETIC, id="month-plus-80-december"),
        pytest.param(number("015390"), IdentityCheck.INVALID_DATE, id="month-53"),
        pytest.param(number("019390"), IdentityCheck.INVALID_DATE, id="month-93"),
        pytest.param(number("011390"), IdentityCheck.INVALID_DATE, id="month-13"),
        pytest.param(number("001090"), IdentityCheck.INVALID_DATE, id="day-0"),
        pytest.param(number("320190"), IdentityCheck.INVALID_DATE, id="day-32"),
        pytest.param(number("290200", 100), IdentityCheck.INVALID_DATE, id="29-february-1900"),
        pytest.param("0101901234", IdentityCheck.INVALID_FORMAT, id="ten-digits"),
        pytest.param("010190123456", IdentityCheck.INVALID_FORMAT, id="twelve-digits"),
        pytest.param("0101901234X", IdentityCheck.INVALID_FORMAT, id="letter"),
        pytest.param("010190 12345", IdentityCheck.INVALID_FORMAT, id="space-inside"),
        pytest.param("", IdentityCheck.INVALID_FORMAT, id="empty"),
    ],
)
def test_identity_numbers_are_classified(value, expected):
    assert check_identity_number(value) == expected


def test_digits_of_other_scripts_are_never_acceptable():
    arabic_indic = "".join(chr(0x660 + int(digit)) for digit in number("010190"))

    assert not check_identity_number(arabic_indic).acceptable_in_production


def test_surrounding_whitespace_is_ignored():
    assert check_identity_number(f"  {number('010190')}\n") == IdentityCheck.VALID


@pytest.mark.parametrize("position", [9, 10])
def test_a_wrong_check_digit_is_caught(position):
    valid = number("010190")
    for digit in "0123456789":
        if digit == valid[position]:
            continue
        changed = valid[:position] + digit + valid[position + 1 :]
        assert check_identity_number(changed) == IdentityCheck.INVALID_CHECKSUM


def test_a_changed_birth_digit_breaks_the_check_digits():
    valid = number("010190")
    assert check_identity_number("02" + valid[2:]) == IdentityCheck.INVALID_CHECKSUM


def test_a_birth_date_in_the_future_is_invalid_until_it_has_passed():
    born_2030 = number("010130", 500)  # individual numbers 500-999 with year 00-39: born 2000-2039

    assert check_identity_number(born_2030, today=datetime.date(2026, 6, 1)) == IdentityCheck.INVALID_DATE
    assert check_identity_number(born_2030, today=datetime.date(2030, 1, 1)) == IdentityCheck.VALID


@pytest.mark.parametrize(
    ("check", "acceptable"),
    [
        (IdentityCheck.VALID, True),
        (IdentityCheck.D_NUMBER, True),
        (IdentityCheck.SYNTHETIC, False),
        (IdentityCheck.INVALID_FORMAT, False),
        (IdentityCheck.INVALID_CHECKSUM, False),
        (IdentityCheck.INVALID_DATE, False),
    ],
)
def test_only_real_people_are_acceptable_in_production(check, acceptable):
    assert check.acceptable_in_production is acceptable


def test_with_check_digits_completes_nine_digits():
    completed = with_check_digits("010190124")

    assert completed == "01019012480"
    assert check_identity_number(completed) == IdentityCheck.VALID


def test_with_check_digits_is_none_where_no_check_digit_exists():
    # A remainder of 10 has no check digit: such individual numbers are never issued.
    assert with_check_digits("010190123") is None


def test_every_completed_number_passes_its_check_digits():
    completed = [with_check_digits(f"150580{individual:03d}") for individual in range(100, 200)]

    assert completed.count(None) > 0
    assert all(check_identity_number(n) == IdentityCheck.VALID for n in completed if n)


KEY = b"a-test-key"


def test_the_hash_is_keyed_sha256_hex_without_the_number():
    value = number("010190")

    digest = identity_hash(value, key=KEY)

    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert value not in digest
    assert digest == identity_hash(value, key=KEY)
    assert digest != identity_hash(value, key=b"another-key")
    assert digest != identity_hash(number("410190"), key=KEY)


def test_the_hash_ignores_surrounding_whitespace():
    value = number("010190")

    assert identity_hash(f" {value}\n", key=KEY) == identity_hash(value, key=KEY)


def test_the_hash_of_any_text_is_defined():
    # Intake hashes what it was sent, checked or not.
    assert re.fullmatch(r"[0-9a-f]{64}", identity_hash("ikke et nummer ø", key=KEY))
