"""Norwegian organisation numbers and mobile numbers.

Pure functions; callers translate the error codes into user-facing messages.
"""

from __future__ import annotations

import phonenumbers
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength
from stdnum.no import orgnr


class NumberError(ValueError):
    """A number that is not acceptable; `code` says why (for translated messages)."""

    def __init__(self, code: str, value: str) -> None:
        super().__init__(f"{code}: {value!r}")
        self.code = code


def normalize_org_number(value: str) -> str:
    """Return the 9-digit organisation number, or raise NumberError.

    Codes: "format" (not digits), "length" (not 9 digits), "checksum" (mod-11 fails).
    """
    try:
        return orgnr.validate(value)
    except InvalidLength:
        raise NumberError("length", value) from None
    except InvalidFormat:
        raise NumberError("format", value) from None
    except InvalidChecksum:
        raise NumberError("checksum", value) from None


def is_valid_org_number(value: str) -> bool:
    try:
        normalize_org_number(value)
    except NumberError:
        return False
    return True


def normalize_norwegian_mobile(value: str) -> str:
    """Return a Norwegian mobile number in E.164 (+47 and 8 digits starting with 4 or 9).

    Accepts the forms people write: "912 34 567", "+47 912 34 567", "0047 91234567".
    Codes: "unparseable", "not_norwegian", "not_mobile".
    """
    try:
        number = phonenumbers.parse(value, "NO")
    except phonenumbers.NumberParseException:
        raise NumberError("unparseable", value) from None
    if number.country_code != 47:
        raise NumberError("not_norwegian", value)
    national = str(number.national_number)
    # The registry sends passwords by SMS only to Norwegian mobiles: 8 digits from the 4xx/9xx series.
    if len(national) != 8 or national[0] not in "49" or not phonenumbers.is_valid_number(number):
        raise NumberError("not_mobile", value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_valid_norwegian_mobile(value: str | None) -> bool:
    if not value:
        return False
    try:
        normalize_norwegian_mobile(value)
    except NumberError:
        return False
    return True
