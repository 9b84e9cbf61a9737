"""Excel workbooks for people, written in openpyxl's write-only mode (streams rows; lxml makes it faster).

Each sheet gets a bold header row that stays frozen while scrolling, an autofilter, column widths and
number formats. Labels are whatever the caller passes (the feedback app passes Norwegian ones).
"""

from __future__ import annotations

import datetime
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter

INTEGER = "#,##0"
PERCENT = "0.0 %"
DATE = "dd.mm.yyyy"
DATETIME = "dd.mm.yyyy hh:mm"

# Excel refuses sheet titles longer than 31 characters or with these characters.
_FORBIDDEN_IN_TITLE = set("[]:*?/\\")

HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1E4B73")
HEADER_ALIGNMENT = Alignment(vertical="center", wrap_text=True)
HEADER_BORDER = Border(bottom=Side(style="thin", color="000000"))
TOTAL_FONT = Font(bold=True)


@dataclass(frozen=True)
class Column:
    title: str
    width: float = 14
    number_format: str | None = None


@dataclass
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]
    # A last row in bold (e.g. "Totalt"), kept out of the autofilter range.
    total: Sequence[Any] | None = None
    empty_text: str = ""
    notes: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.title or len(self.title) > 31 or _FORBIDDEN_IN_TITLE & set(self.title):
            raise ValueError(f"Invalid sheet title {self.title!r}")
        for row in self.rows[:1]:
            if len(row) != len(self.columns):
                raise ValueError(f"Sheet {self.title!r}: a row has {len(row)} values for {len(self.columns)} columns")


# The xlsx's own zip: deflate level 1 is several times faster than zlib's default 6 and the file barely grows
# (the archive that carries the xlsx stores it as it is).
XLSX_COMPRESSLEVEL = 1


def write_workbook(target: BinaryIO, sheets: Sequence[Sheet]) -> None:
    """Write the sheets, in order, as an xlsx to `target`."""
    if not sheets:
        raise ValueError("A workbook needs at least one sheet.")
    workbook = Workbook(write_only=True)
    styles: dict[tuple[str, str | None], StyleArray] = {}
    for sheet in sheets:
        _write_sheet(workbook, sheet, styles)
    # What Workbook.save does (openpyxl.writer.excel.save_workbook), with the sheets' XML kept in memory and
    # a faster deflate level.
    workbook.properties.modified = datetime.datetime.now(tz=datetime.UTC).replace(tzinfo=None)
    with zipfile.ZipFile(
        target, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=XLSX_COMPRESSLEVEL
    ) as archive:
        _InMemoryExcelWriter(workbook, archive).save()


class _InMemoryExcelWriter(ExcelWriter):
    """openpyxl's writer for sheets whose XML was written to memory (_start_sheet): openpyxl's own write-only
    sheets go through a temporary file each, which the writer copies into the zip and deletes."""

    def write_worksheet(self, ws: WriteOnlyWorksheet) -> None:
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        if not ws.closed:
            ws.close()
        writer = ws._writer
        ws._rels = writer._rels
        self._archive.writestr(ws.path[1:], writer.out.getvalue())
        self.manifest.append(ws)


def _start_sheet(ws: WriteOnlyWorksheet) -> None:
    """WriteOnlyWorksheet._get_writer, with the XML written to memory instead of a temporary file: the sheet's
    top (column widths, frozen pane) is written now, so these must be set before."""
    ws._writer = WorksheetWriter(ws, out=io.BytesIO())
    ws._writer.write_top()


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    buffer = io.BytesIO()
    write_workbook(buffer, sheets)
    return buffer.getvalue()


def _write_sheet(workbook: Workbook, sheet: Sheet, styles: dict[tuple[str, str | None], StyleArray]) -> None:
    """Write one sheet. `styles` keeps the workbook's header and total cell styles: an openpyxl style set
    on a cell is looked up in the workbook's style lists each time, a copied one is not."""
    ws = workbook.create_sheet(title=sheet.title)
    # Column widths and the frozen header must be set before the first row is written.
    for index, column in enumerate(sheet.columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = column.width
    ws.freeze_panes = "A2"
    last_column = get_column_letter(len(sheet.columns))
    data_rows = len(sheet.rows)
    ws.auto_filter.ref = f"A1:{last_column}{max(1, data_rows + 1)}"
    ws.print_title_rows = "1:1"
    _start_sheet(ws)

    header_style = styles.get(("header", None))
    if header_style is None:
        cell = WriteOnlyCell(ws)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = HEADER_ALIGNMENT
        cell.border = HEADER_BORDER
        header_style = styles[("header", None)] = cell._style
    ws.append([Cell(ws, row=1, column=1, value=column.title, style_array=header_style) for column in sheet.columns])

    # Only columns with a number format need styled cells, and one styled cell per column serves every row:
    # openpyxl writes a row as soon as it is appended, so the cell can take the next row's value. Plain
    # values are much cheaper to write than a new styled cell each.
    formatted = []
    for index, column in enumerate(sheet.columns):
        if column.number_format:
            template = WriteOnlyCell(ws)
            template.number_format = column.number_format
            formatted.append((index, template))
    for row in sheet.rows:
        if formatted:
            row = list(row)
            for index, template in formatted:
                value = row[index]
                if value is not None and not isinstance(value, str):
                    template.value = value
                    row[index] = template
        ws.append(row)
    if not sheet.rows and sheet.empty_text:
        ws.append([sheet.empty_text])
    if sheet.total is not None:
        total = []
        for index, value in enumerate(sheet.total):
            number_format = sheet.columns[index].number_format
            if value is None or isinstance(value, str):
                number_format = None
            style = styles.get(("total", number_format))
            if style is None:
                cell = WriteOnlyCell(ws)
                cell.font = TOTAL_FONT
                if number_format:
                    cell.number_format = number_format
                style = styles[("total", number_format)] = cell._style
            total.append(Cell(ws, row=1, column=1, value=value, style_array=style))
        ws.append(total)
    if sheet.notes:
        ws.append([])
        for note in sheet.notes:
            ws.append([note])
