"""Django validators with messages in the user's language, built on portal.lib.norway."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from portal.lib.norway import NumberError, normalize_norwegian_mobile, normalize_org_number

ORG_NUMBER_MESSAGES = {
    "format": _("The organisation number may contain digits only."),
    "length": _("The organisation number must have exactly 9 digits."),
    "checksum": _("The organisation number has a wrong check digit (mod 11). Check that it is typed correctly."),
}

MOBILE_MESSAGES = {
    "unparseable": _("This is not a phone number. Write a Norwegian mobile number, e.g. 912 34 567."),
    "not_norwegian": _("Only Norwegian mobile numbers (+47) can receive the SMS with the feedback password."),
    "not_mobile": _("This is not a Norwegian mobile number: it must have 8 digits and start with 4 or 9."),
}


def validate_org_number(value: str) -> None:
    try:
        normalize_org_number(value)
    except NumberError as error:
        raise ValidationError(ORG_NUMBER_MESSAGES[error.code], code=f"org_number_{error.code}") from None


def validate_norwegian_mobile(value: str) -> None:
    if not value:
        return
    try:
        normalize_norwegian_mobile(value)
    except NumberError as error:
        raise ValidationError(MOBILE_MESSAGES[error.code], code=f"mobile_{error.code}") from None


# Line breaks and tabs belong in free text; every other control character (category Cc: NUL, BEL, ESC, DEL,
# C1 codes, ...) is a paste accident that breaks exports (XML 1.0 can't hold most of them) and hides text.
_ALLOWED_CONTROLS = frozenset("\n\r\t")


def validate_free_text(value: str) -> None:
    """Refuse control characters other than line breaks and tabs, saying which one and where."""
    line = 1
    column = 0
    for character in value:
        if character == "\n":
            line, column = line + 1, 0
            continue
        column += 1
        if character not in _ALLOWED_CONTROLS and unicodedata.category(character) == "Cc":
            raise ValidationError(
                _(
                    "The text contains an invisible control character (U+%(code)s) on line %(line)d, "
                    "character %(column)d. Remove it and try again; it often comes with text pasted from "
                    "another program."
                ),
                code="control_character",
                params={"code": f"{ord(character):04X}", "line": line, "column": column},
            )


class ChoiceSubsetValidator:
    """Checks that a JSON list holds distinct values from a fixed set of choices."""

    def __init__(self, choices: Iterable[object], *, allow_empty: bool = True) -> None:
        self.choices = tuple(choices)
        self.allow_empty = allow_empty

    def __call__(self, value: object) -> None:
        if not isinstance(value, list):
            raise ValidationError(_("Expected a list of values."), code="not_a_list")
        if not value and not self.allow_empty:
            raise ValidationError(_("Choose at least one."), code="empty")
        unknown = [item for item in value if item not in self.choices]
        if unknown:
            raise ValidationError(
                _("Unknown values: %(values)s. Allowed: %(allowed)s."),
                code="unknown_choice",
                params={
                    "values": ", ".join(map(str, unknown)),
                    "allowed": ", ".join(map(str, self.choices)),
                },
            )
        if len(set(value)) != len(value):
            raise ValidationError(_("A value is listed more than once."), code="duplicate")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ChoiceSubsetValidator)
            and self.choices == other.choices
            and self.allow_empty == other.allow_empty
        )

    def deconstruct(self) -> tuple[str, tuple, dict]:
        return (
            "portal.validators.ChoiceSubsetValidator",
            (self.choices,),
            {"allow_empty": self.allow_empty},
        )
