"""Norwegian national identity numbers (fødselsnummer, D-number): checks and keyed hashes.

The portal never stores or logs the number itself: intake keeps an HMAC of it
(keyed with a secret from settings) and the result of these checks.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import hmac

from stdnum.no import fodselsnummer


class IdentityCheck(enum.StrEnum):
    VALID = "valid"
    D_NUMBER = "d_number"
    SYNTHETIC = "synthetic"  # test data: month + 40 (NAV) or + 80 (Skatteetaten's Tenor)
    INVALID_FORMAT = "invalid_format"
    INVALID_CHECKSUM = "invalid_checksum"
    INVALID_DATE = "invalid_date"

    @property
    def acceptable_in_production(self) -> bool:
        return self in (IdentityCheck.VALID, IdentityCheck.D_NUMBER)


def check_identity_number(number: str, *, today: datetime.date | None = None) -> IdentityCheck:
    number = number.strip()
    if len(number) != 11 or not number.isdigit():
        return IdentityCheck.INVALID_FORMAT
    if number[9] != fodselsnummer.calc_check_digit1(number) or number[10] != fodselsnummer.calc_check_digit2(number):
        return IdentityCheck.INVALID_CHECKSUM
    day, month = int(number[0:2]), int(number[2:4])
    if month > 80:
        return IdentityCheck.SYNTHETIC if month <= 92 else IdentityCheck.INVALID_DATE
    if month > 40:
        return IdentityCheck.SYNTHETIC if month <= 52 else IdentityCheck.INVALID_DATE
    try:
        birth_date = fodselsnummer.get_birth_date(number)
    except fodselsnummer.ValidationError:
        return IdentityCheck.INVALID_DATE
    if birth_date > (today or datetime.date.today()):
        return IdentityCheck.INVALID_DATE
    return IdentityCheck.D_NUMBER if day > 40 else IdentityCheck.VALID


def identity_hash(number: str, *, key: bytes) -> str:
    """Keyed hash used to join ident and activity data without keeping the number."""
    return hmac.new(key, number.strip().encode("ascii", "replace"), hashlib.sha256).hexdigest()


def with_check_digits(first_nine: str) -> str | None:
    """Complete nine digits with their two check digits; None where no valid digits exist.

    Used to make synthetic test persons for tests and demo data.
    """
    first = fodselsnummer.calc_check_digit1(first_nine)
    if len(first) != 1:
        return None
    second = fodselsnummer.calc_check_digit2(first_nine + first)
    if len(second) != 1:
        return None
    return first_nine + first + second
