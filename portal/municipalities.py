"""Norwegian municipality code lists (SSB classification 131, "Standard for kommuneinndeling").

The lists in ``portal/data`` are stored in the JSON shape that SSB's Klass API
returns from ``/api/klass/v1/classifications/131/codes`` so that a fresh download
from SSB can replace a shipped file without any conversion step.

This module is deliberately framework-free (no Django imports): the importer and
management commands call it, and it can be tested without a database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_DIR",
    "SHIPPED_FILES",
    "KlassFormatError",
    "MunicipalityCode",
    "load_klass_file",
    "parse_klass_codes",
]

DATA_DIR = Path(__file__).resolve().parent / "data"

# One file per list version: the 2020 reform list (356 municipalities, valid
# 2020-01-01 until 2024-01-01) and the 2024 list (357, valid from 2024-01-01).
SHIPPED_FILES: tuple[Path, ...] = (
    DATA_DIR / "municipalities_2020-2023.json",
    DATA_DIR / "municipalities_2024.json",
)

# SSB municipality numbers are always four digits with a leading zero kept
# ("0301" Oslo); an int or a three-digit string means the zero was lost somewhere.
_NUMBER_RE = re.compile(r"\d{4}")
# date.fromisoformat() also accepts "20240101" and week dates since Python 3.11;
# Klass only ever sends YYYY-MM-DD, so anything else is a sign of a wrong file.
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class KlassFormatError(ValueError):
    """The data is not a usable Klass ``codes`` response."""


@dataclass(frozen=True)
class MunicipalityCode:
    """One municipality number with its name, valid in ``[valid_from, valid_to)``.

    ``valid_to`` is exclusive, as in SSB: the first day the row no longer applies.
    ``None`` means still valid.
    """

    number: str
    name: str
    valid_from: date
    valid_to: date | None

    def is_valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


def parse_klass_codes(data: dict[str, Any] | list[Any]) -> list[MunicipalityCode]:
    """Validate a Klass ``codes`` response and return its rows in file order.

    Accepts the whole response object (``{"codes": [...]}``) or the bare list.
    Raises KlassFormatError naming the entry index and field on the first problem.
    """
    entries = _extract_entries(data)
    codes = [_parse_entry(index, entry) for index, entry in enumerate(entries)]
    _check_overlaps(codes)
    return codes


def load_klass_file(path: str | Path) -> list[MunicipalityCode]:
    """Read and parse one Klass ``codes`` JSON file (UTF-8)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KlassFormatError(f"{path}: cannot read JSON: {exc}") from exc
    try:
        return parse_klass_codes(data)
    except KlassFormatError as exc:
        # Prefix the path so an error from a batch import says which file is bad.
        raise KlassFormatError(f"{path}: {exc}") from exc


def _extract_entries(data: object) -> Sequence[object]:
    if isinstance(data, Mapping):
        if "codes" not in data:
            raise KlassFormatError('expected an object with a "codes" list, but "codes" is missing')
        entries = data["codes"]
        if not isinstance(entries, list):
            raise KlassFormatError(f'"codes" must be a list, got {type(entries).__name__}')
        return entries
    if isinstance(data, list):
        return data
    raise KlassFormatError(f'expected an object with a "codes" list or a bare list, got {type(data).__name__}')


def _parse_entry(index: int, entry: object) -> MunicipalityCode:
    if not isinstance(entry, Mapping):
        raise KlassFormatError(f"entry {index}: expected an object, got {type(entry).__name__}")

    if "code" not in entry:
        raise _field_error(index, "code", "is missing")
    number = entry["code"]
    if not isinstance(number, str) or not _NUMBER_RE.fullmatch(number):
        raise _field_error(index, "code", f"must be a string of exactly 4 digits, got {number!r}")

    if "name" not in entry:
        raise _field_error(index, "name", "is missing", number)
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise _field_error(index, "name", f"must be a non-empty string, got {name!r}", number)

    # Prefer the *InRequestedRange dates: when the API is asked for a period they
    # give the validity of this row, while validFrom/validTo may be left empty.
    from_field = _pick_field(entry, "validFromInRequestedRange", "validFrom")
    if from_field is None:
        raise _field_error(index, "validFromInRequestedRange", "is missing (and so is validFrom)", number)
    valid_from = _parse_date(index, from_field, entry[from_field], number)

    to_field = _pick_field(entry, "validToInRequestedRange", "validTo")
    valid_to = None if to_field is None else _parse_date(index, to_field, entry[to_field], number)

    if valid_to is not None and valid_to <= valid_from:
        raise _field_error(
            index,
            to_field or "validTo",
            f"{valid_to.isoformat()} is not after {from_field} {valid_from.isoformat()} (validTo is exclusive)",
            number,
        )
    return MunicipalityCode(number=number, name=name.strip(), valid_from=valid_from, valid_to=valid_to)


def _pick_field(entry: Mapping[str, object], preferred: str, fallback: str) -> str | None:
    """The name of the first of the two fields that holds a value, or None."""
    for field in (preferred, fallback):
        if entry.get(field) not in (None, ""):
            return field
    return None


def _parse_date(index: int, field: str, value: object, number: str) -> date:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise _field_error(index, field, f"must be an ISO date YYYY-MM-DD, got {value!r}", number)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _field_error(index, field, f"is not a real calendar date: {value!r}", number) from None


def _check_overlaps(codes: list[MunicipalityCode]) -> None:
    # The same number may appear more than once (e.g. a rename inside the requested
    # period), but two rows for one number valid on the same day would be ambiguous.
    by_number: dict[str, list[tuple[int, MunicipalityCode]]] = {}
    for index, code in enumerate(codes):
        for other_index, other in by_number.get(code.number, []):
            if _overlaps(code, other):
                raise KlassFormatError(
                    f"entry {index} (code {code.number!r}): field 'code' duplicates entry "
                    f"{other_index} with an overlapping validity period"
                )
        by_number.setdefault(code.number, []).append((index, code))


def _overlaps(a: MunicipalityCode, b: MunicipalityCode) -> bool:
    a_before_b_ends = b.valid_to is None or a.valid_from < b.valid_to
    b_before_a_ends = a.valid_to is None or b.valid_from < a.valid_to
    return a_before_b_ends and b_before_a_ends


def _field_error(index: int, field: str, problem: str, number: str | None = None) -> KlassFormatError:
    where = f"entry {index}" if number is None else f"entry {index} (code {number!r})"
    return KlassFormatError(f"{where}: field {field!r} {problem}")
