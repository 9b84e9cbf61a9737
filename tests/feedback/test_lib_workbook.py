from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from feedback.lib.workbook import INTEGER, PERCENT, Column, Sheet, workbook_bytes


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
