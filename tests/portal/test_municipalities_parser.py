"""Tests for the Klass (SSB classification 131) parser and the shipped code lists.

Plain pytest, no database: portal.municipalities has no Django dependency.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from portal.municipalities import (
    SHIPPED_FILES,
    KlassFormatError,
    MunicipalityCode,
    load_klass_file,
    parse_klass_codes,
)

FILE_2020_2023, FILE_2024 = SHIPPED_FILES


def _entry(**overrides: Any) -> dict[str, Any]:
    """A well-formed Klass codes row; tests override or delete single fields."""
    entry: dict[str, Any] = {
        "code": "0301",
        "parentCode": None,
        "level": "1",
        "name": "Oslo",
        "shortName": "",
        "presentationName": "",
        "validFrom": "2020-01-01",
        "validTo": "2024-01-01",
        "validFromInRequestedRange": "2020-01-01",
        "validToInRequestedRange": "2024-01-01",
        "notes": "",
    }
    entry.update(overrides)
    return entry


def _by_number(codes: list[MunicipalityCode]) -> dict[str, MunicipalityCode]:
    return {code.number: code for code in codes}


# --- parser: good input ------------------------------------------------------


def test_parses_codes_object() -> None:
    codes = parse_klass_codes({"codes": [_entry(), _entry(code="5001", name="Trondheim - Tråante")]})

    assert codes == [
        MunicipalityCode("0301", "Oslo", date(2020, 1, 1), date(2024, 1, 1)),
        MunicipalityCode("5001", "Trondheim - Tråante", date(2020, 1, 1), date(2024, 1, 1)),
    ]


def test_accepts_bare_list() -> None:
    assert parse_klass_codes([_entry()]) == parse_klass_codes({"codes": [_entry()]})


def test_good_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "codes.json"
    path.write_text(json.dumps({"codes": [_entry(name="Bærum", code="3024")]}), encoding="utf-8")

    assert load_klass_file(path) == [MunicipalityCode("3024", "Bærum", date(2020, 1, 1), date(2024, 1, 1))]


def test_in_requested_range_dates_win_over_plain_dates() -> None:
    (code,) = parse_klass_codes(
        [
            _entry(
                validFrom="2018-01-01",
                validTo=None,
                validFromInRequestedRange="2022-01-01",
                validToInRequestedRange="2023-01-01",
            )
        ]
    )
    assert (code.valid_from, code.valid_to) == (date(2022, 1, 1), date(2023, 1, 1))


def test_falls_back_to_plain_dates_and_null_means_still_valid() -> None:
    entry = _entry(validFrom="2024-01-01", validTo=None)
    del entry["validFromInRequestedRange"]
    del entry["validToInRequestedRange"]

    (code,) = parse_klass_codes([entry])

    assert (code.valid_from, code.valid_to) == (date(2024, 1, 1), None)
    assert code.is_valid_on(date(2030, 6, 1))


def test_valid_to_is_exclusive() -> None:
    (code,) = parse_klass_codes([_entry()])
    assert code.is_valid_on(date(2023, 12, 31))
    assert not code.is_valid_on(date(2024, 1, 1))
    assert not code.is_valid_on(date(2019, 12, 31))


def test_same_number_twice_is_fine_when_periods_do_not_overlap() -> None:
    # A rename inside the requested period comes back as two rows for one code.
    codes = parse_klass_codes(
        [
            _entry(code="5001", name="Trondheim", validToInRequestedRange="2022-09-09"),
            _entry(code="5001", name="Trondheim - Tråante", validFromInRequestedRange="2022-09-09"),
        ]
    )
    assert [c.name for c in codes] == ["Trondheim", "Trondheim - Tråante"]


# --- parser: errors -----------------------------------------------------------


def test_missing_name_names_index_and_field() -> None:
    bad = _entry(code="3001")
    del bad["name"]

    with pytest.raises(KlassFormatError) as info:
        parse_klass_codes({"codes": [_entry(), bad]})

    message = str(info.value)
    assert "entry 1" in message
    assert "'name'" in message
    assert "missing" in message


def test_missing_code_field() -> None:
    bad = _entry()
    del bad["code"]
    with pytest.raises(KlassFormatError, match=r"entry 0: field 'code' is missing"):
        parse_klass_codes([bad])


def test_missing_valid_from_in_both_fields() -> None:
    bad = _entry()
    del bad["validFrom"]
    del bad["validFromInRequestedRange"]
    with pytest.raises(KlassFormatError, match=r"entry 0 .*'validFromInRequestedRange' is missing"):
        parse_klass_codes([bad])


@pytest.mark.parametrize("number", ["301", "03010", "03a1", "", 301, None])
def test_bad_number(number: object) -> None:
    with pytest.raises(KlassFormatError) as info:
        parse_klass_codes([_entry(), _entry(code=number)])

    message = str(info.value)
    assert message.startswith("entry 1:")
    assert "'code'" in message
    assert "4 digits" in message


@pytest.mark.parametrize("name", ["", "   ", None, 42])
def test_empty_or_non_string_name(name: object) -> None:
    with pytest.raises(KlassFormatError, match=r"entry 0 \(code '0301'\): field 'name' must be a non-empty string"):
        parse_klass_codes([_entry(name=name)])


@pytest.mark.parametrize("value", ["01.01.2020", "20200101", "2020-13-01", "2020-02-30", 20200101])
def test_bad_date(value: object) -> None:
    with pytest.raises(KlassFormatError, match=r"entry 0 .*'validFromInRequestedRange'"):
        parse_klass_codes([_entry(validFromInRequestedRange=value)])


def test_valid_to_must_be_after_valid_from() -> None:
    with pytest.raises(KlassFormatError, match=r"'validToInRequestedRange' .*not after"):
        parse_klass_codes([_entry(validToInRequestedRange="2020-01-01")])


def test_overlapping_duplicate_is_rejected() -> None:
    with pytest.raises(KlassFormatError, match=r"entry 1 \(code '0301'\).*duplicates entry 0"):
        parse_klass_codes([_entry(), _entry(validFromInRequestedRange="2023-01-01")])


@pytest.mark.parametrize("data", [{"kodes": []}, {"codes": {"0301": "Oslo"}}, "0301 Oslo", None, [["0301", "Oslo"]]])
def test_wrong_shape(data: Any) -> None:
    with pytest.raises(KlassFormatError):
        parse_klass_codes(data)


def test_load_reports_path_for_broken_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"codes": [', encoding="utf-8")
    with pytest.raises(KlassFormatError, match=r"broken\.json: cannot read JSON"):
        load_klass_file(path)


def test_load_reports_path_for_bad_entry(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([_entry(code="301")]), encoding="utf-8")
    with pytest.raises(KlassFormatError, match=r"bad\.json: entry 0: field 'code'"):
        load_klass_file(path)


def test_error_is_a_value_error() -> None:
    assert issubclass(KlassFormatError, ValueError)


# --- shipped files -------------------------------------------------------------


def test_shipped_files_exist_next_to_module() -> None:
    assert [p.name for p in SHIPPED_FILES] == [
        "municipalities_2020-2023.json",
        "municipalities_2024.json",
    ]
    assert all(p.is_file() for p in SHIPPED_FILES)


def test_2020_2023_list() -> None:
    codes = load_klass_file(FILE_2020_2023)
    by_number = _by_number(codes)

    assert len(codes) == 356
    assert len(by_number) == 356
    assert {(c.valid_from, c.valid_to) for c in codes} == {(date(2020, 1, 1), date(2024, 1, 1))}
    assert by_number["3001"].name == "Halden"
    assert by_number["3004"].name == "Fredrikstad"
    assert by_number["3024"].name == "Bærum"
    assert by_number["0301"].name == "Oslo"
    assert by_number["1103"].name == "Stavanger"
    assert by_number["4601"].name == "Bergen"
    assert by_number["5401"].name == "Tromsø"
    assert by_number["1507"].name == "Ålesund"
    assert "3101" not in by_number
    assert "9999" not in by_number  # SSB's "Uoppgitt" pseudo-code is left out


def test_2024_list() -> None:
    codes = load_klass_file(FILE_2024)
    by_number = _by_number(codes)

    assert len(codes) == 357
    assert len(by_number) == 357
    assert {(c.valid_from, c.valid_to) for c in codes} == {(date(2024, 1, 1), None)}
    assert by_number["3101"].name == "Halden"
    assert by_number["3107"].name == "Fredrikstad"
    assert by_number["3201"].name == "Bærum"
    assert by_number["3901"].name == "Horten"
    assert by_number["4001"].name == "Porsgrunn"
    assert by_number["5501"].name == "Tromsø"
    assert by_number["5612"].name == "Guovdageaidnu - Kautokeino"
    # The 2024 split of Ålesund gave both parts new numbers.
    assert by_number["1508"].name == "Ålesund"
    assert by_number["1580"].name == "Haram"
    assert "1507" not in by_number
    assert "3001" not in by_number
    assert "9999" not in by_number


def test_baerum_moves_from_3024_to_3201() -> None:
    old = _by_number(load_klass_file(FILE_2020_2023))
    new = _by_number(load_klass_file(FILE_2024))

    assert old["3024"].name == new["3201"].name == "Bærum"
    assert old["3024"].valid_to == new["3201"].valid_from == date(2024, 1, 1)
    assert old["3001"].name == new["3101"].name == "Halden"


def test_numbers_kept_across_2024_are_unchanged_outside_the_split_counties() -> None:
    old = _by_number(load_klass_file(FILE_2020_2023))
    new = _by_number(load_klass_file(FILE_2024))

    for number in ("0301", "1103", "4204", "4601", "5001"):
        assert old[number].name == new[number].name
    # Counties split in 2024 (Viken 30, Vestfold og Telemark 38, Troms og Finnmark 54)
    # have no numbers left in the 2024 list.
    assert not [n for n in new if n[:2] in {"30", "38", "54"}]
