from __future__ import annotations

import datetime
import io
import zipfile

import pytest
from lxml import etree
from openpyxl import load_workbook
from openpyxl.utils.exceptions import IllegalCharacterError

from feedback.lib.workbook import DATETIME, INTEGER, PERCENT, Column, Sheet, workbook_bytes


def _book() -> bytes:
    return workbook_bytes(
        [
            Sheet(
                "Per måned",
                [Column("Måned", 12), Column("Poster", 10, INTEGER), Column("Endring", 9, PERCENT)],
                rows=[["Januar", 1200, 0.25], ["Februar", 30, None]],
                total=["Totalt", 1230, None],
            ),
            Sheet("Tom", [Column("Kode")], rows=[], empty_text="Ingen koder"),
        ]
    )


def test_the_workbook_opens_with_headers_formats_widths_and_frozen_header():
    book = load_workbook(io.BytesIO(_book()))
    assert book.sheetnames == ["Per måned", "Tom"]
    ws = book["Per måned"]
    assert [c.value for c in ws[1]] == ["Måned", "Poster", "Endring"]
    assert ws["A1"].font.bold
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:C3"
    assert ws.column_dimensions["A"].width == 12
    assert ws["B2"].value == 1200 and ws["B2"].number_format == INTEGER
    assert ws["C2"].number_format == PERCENT
    assert [c.value for c in ws[4]] == ["Totalt", 1230, None]
    assert ws["A4"].font.bold
    assert book["Tom"]["A2"].value == "Ingen koder"


@pytest.mark.parametrize("title", ["", "x" * 32, "a/b", "what?"])
def test_invalid_sheet_titles_are_refused(title):
    with pytest.raises(ValueError):
        Sheet(title, [Column("A")], rows=[])


def test_rows_must_match_the_columns():
    with pytest.raises(ValueError):
        Sheet("Ark", [Column("A"), Column("B")], rows=[[1]])


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            name: etree.tostring(etree.fromstring(archive.read(name)), method="c14n")
            for name in archive.namelist()
            if name != "docProps/core.xml"  # the time it was written
        }


def test_plain_rows_are_written_as_openpyxl_writes_them():
    """The shortcut for rows of plain values (_sheet_data) gives the same XML as openpyxl's own cell writer,
    for every kind of value; what it does not handle itself goes through openpyxl."""
    when = datetime.datetime(2024, 3, 5, 14, 30)
    sheets = [
        Sheet(
            "Alt",
            [Column("Tekst"), Column("Tall", 10, INTEGER), Column("Andel", 9, PERCENT), Column("Når", 17, DATETIME)],
            rows=[
                ["Januar", 1200, 0.25, when],
                [" mellomrom ", None, None, datetime.date(2024, 1, 31)],
                ["", 0, -1.5, None],
                ["<&> \"æøå\" 'x' \t tab\r\nlinje\n😀 ]]> &amp;", 12345678901234567, 1 / 3, when],
                ["\n", -0.0, 1e-20, datetime.datetime(1900, 1, 1, 0, 0, 1)],
                ["=SUM(B2:B3)", 1, 0.5, None],
                ["#N/A", True, float("nan"), None],
                ["x" * 40000, float("inf"), 2, None],
                [1.5, "tekst i tallkolonne", "", "ikke dato"],
                ["for lang rad", 1, 2, when, "ekstra"],
            ],
            total=["Totalt", 1230, None, ""],
            notes=["En merknad", "=ikke formel?"],
        ),
        Sheet("Uten format", [Column("Dato"), Column("Tall")], rows=[[when, 3], [datetime.date(2024, 2, 1), 4.0]]),
        Sheet("Tom", [Column("Kode")], rows=[], empty_text="Ingen koder"),
    ]
    assert _parts(workbook_bytes(sheets)) == _parts(workbook_bytes(sheets, plain_rows=False))


def test_illegal_characters_are_refused_as_openpyxl_refuses_them():
    sheet = Sheet("Ark", [Column("A")], rows=[["bjelle\x07"]])
    with pytest.raises(IllegalCharacterError):
        workbook_bytes([sheet])
