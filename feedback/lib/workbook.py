"""Excel workbooks for people, written in openpyxl's write-only mode (streams rows; lxml makes it faster).

Each sheet gets a bold header row that stays frozen while scrolling, an autofilter, column widths and
number formats. Labels are whatever the caller passes (the feedback app passes Norwegian ones).
"""

from __future__ import annotations

import datetime
import io
import math
import zipfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.packaging.extended import ExtendedProperties
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.numbers import is_date_format
from openpyxl.styles.stylesheet import write_stylesheet
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.workbook._writer import WorkbookWriter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter
from openpyxl.writer.theme import theme_xml
from openpyxl.xml.constants import (
    ARC_APP,
    ARC_CORE,
    ARC_ROOT_RELS,
    ARC_STYLE,
    ARC_THEME,
    ARC_WORKBOOK,
    ARC_WORKBOOK_RELS,
)
from openpyxl.xml.functions import tostring

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


def write_workbook(target: BinaryIO, sheets: Sequence[Sheet], *, plain_rows: bool = True) -> None:
    """Write the sheets, in order, as an xlsx to `target`. `plain_rows=False` writes every row through
    openpyxl's own cell writer (tests hold _sheet_data to it)."""
    if not sheets:
        raise ValueError("A workbook needs at least one sheet.")
    workbook = Workbook(write_only=True)
    styles: dict[tuple[str, str | None], StyleArray] = {}
    for sheet in sheets:
        _write_sheet(workbook, sheet, styles, plain_rows=plain_rows)
    # What Workbook.save does (openpyxl.writer.excel.save_workbook), with the sheets' XML kept in memory and
    # a faster deflate level.
    workbook.properties.modified = datetime.datetime.now(tz=datetime.UTC).replace(tzinfo=None)
    with zipfile.ZipFile(
        target, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=XLSX_COMPRESSLEVEL
    ) as archive:
        _InMemoryExcelWriter(workbook, archive).save()


# Parts of the package that openpyxl builds anew for every workbook from a few inputs (the styles in use,
# the number of sheets, each sheet's column widths), built once per process for each such input: openpyxl's
# objects cost ~8 ms per workbook before a single row is written. Keyed on everything they are built from
# (test_lib_workbook compares a cached build with a fresh one).
_PART_CACHE: dict[tuple, Any] = {}
_PART_CACHE_LIMIT = 512


def _cached(key: tuple, build) -> Any:
    value = _PART_CACHE.get(key)
    if value is None:
        if len(_PART_CACHE) >= _PART_CACHE_LIMIT:
            _PART_CACHE.clear()
        value = _PART_CACHE[key] = build()
    return value


def _styles_key(workbook: Workbook) -> tuple:
    """Everything openpyxl's write_stylesheet reads from the workbook (the objects compare by value)."""
    return (
        "styles",
        tuple(workbook._fonts),
        tuple(workbook._fills),
        tuple(workbook._borders),
        tuple(workbook._number_formats),
        tuple(tuple(style) for style in workbook._cell_styles),
        tuple(workbook._alignments),
        tuple(workbook._protections),
        tuple(workbook._colors),
        tuple(workbook._differential_styles.styles),
        tuple(workbook._named_styles),
        workbook._table_styles,
    )


class _InMemoryExcelWriter(ExcelWriter):
    """openpyxl's writer for sheets whose XML was written to memory (_start_sheet): openpyxl's own write-only
    sheets go through a temporary file each, which the writer copies into the zip and deletes. The parts
    that do not change from one workbook to the next are taken from _PART_CACHE."""

    def write_data(self) -> None:
        """ExcelWriter.write_data for what write_workbook makes (write-only sheets of cells; no charts,
        images, custom properties, external links or macros), in the same order."""
        workbook = self.workbook
        if (
            len(workbook.custom_doc_props)
            or workbook.chartsheets
            or workbook._external_links
            or workbook.vba_archive
            or workbook.loaded_theme
        ):
            super().write_data()
            return
        archive = self._archive
        archive.writestr(ARC_APP, _cached(("app",), lambda: tostring(ExtendedProperties().to_tree())))
        archive.writestr(ARC_CORE, tostring(workbook.properties.to_tree()))
        archive.writestr(ARC_THEME, theme_xml)
        self._write_worksheets()
        archive.writestr(ARC_STYLE, _cached(_styles_key(workbook), lambda: tostring(write_stylesheet(workbook))))
        writer = WorkbookWriter(workbook)
        archive.writestr(ARC_ROOT_RELS, _cached(("root rels",), writer.write_root_rels))
        archive.writestr(ARC_WORKBOOK, writer.write())
        # After write(), which lists the sheets in writer.rels: the rest of the relationships are fixed.
        archive.writestr(ARC_WORKBOOK_RELS, _cached(("workbook rels", len(workbook.worksheets)), writer.write_rels))
        self.manifest._write(archive, workbook)

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


class _SheetWriter(WorksheetWriter):
    """openpyxl's sheet writer, with the sheet's top (properties, views, format, column widths) built once
    per process for each set of column widths and frozen cell: the only inputs _write_sheet varies."""

    def write_top(self) -> None:
        ws = self.ws
        widths = tuple(
            (letter, dimension.width, dimension.customWidth) for letter, dimension in ws.column_dimensions.items()
        )

        def build() -> list:
            ws.sheet_format.outlineLevelCol = ws.column_dimensions.max_outline
            return [
                ws.sheet_properties.to_tree(),
                ws.views.to_tree(),
                ws.sheet_format.to_tree(),
                ws.column_dimensions.to_tree(),
            ]

        for element in _cached(("top", widths, ws.freeze_panes), build):
            self.xf.send(element)


def _start_sheet(ws: WriteOnlyWorksheet) -> None:
    """WriteOnlyWorksheet._get_writer, with the XML written to memory instead of a temporary file: the sheet's
    top (column widths, frozen pane) is written now, so these must be set before."""
    ws._writer = _SheetWriter(ws, out=io.BytesIO())
    ws._writer.write_top()


def _is_text(value: Any) -> bool:
    """Whether openpyxl would take this str for text: it writes one that starts with "=" as a formula and one
    like "#N/A" as an error code, which text from submitters (record ids, paths, messages quoting values,
    names) must never become in a workbook people open in Excel."""
    return not ((len(value) > 1 and value[0] == "=") or value in ERROR_CODES)


def _text_cell(ws: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    """A cell that holds `value` as text, whatever it starts with (openpyxl checks and truncates it as for
    any str)."""
    cell = WriteOnlyCell(ws, value=value)
    cell.data_type = "s"
    return cell


def _as_text(cell: Cell) -> Cell:
    """The cell, with a str value that openpyxl took for a formula or an error code held as text."""
    if isinstance(cell.value, str) and cell.data_type != "s":
        cell.data_type = "s"
    return cell


def workbook_bytes(sheets: Sequence[Sheet], *, plain_rows: bool = True) -> bytes:
    buffer = io.BytesIO()
    write_workbook(buffer, sheets, plain_rows=plain_rows)
    return buffer.getvalue()


def _write_sheet(
    workbook: Workbook, sheet: Sheet, styles: dict[tuple[str, str | None], StyleArray], *, plain_rows: bool
) -> None:
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

    # Only columns with a number format need styled cells: one template cell per column gives its style.
    formats: list[Cell | None] = []
    for column in sheet.columns:
        template = None
        if column.number_format:
            template = WriteOnlyCell(ws)
            template.number_format = column.number_format
        formats.append(template)
    if plain_rows:
        ws._rows = _sheet_data(ws, formats)
        next(ws._rows)

    header_style = styles.get(("header", None))
    if header_style is None:
        cell = WriteOnlyCell(ws)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = HEADER_ALIGNMENT
        cell.border = HEADER_BORDER
        header_style = styles[("header", None)] = cell._style
    ws.append(
        [_as_text(Cell(ws, row=1, column=1, value=column.title, style_array=header_style)) for column in sheet.columns]
    )

    if plain_rows:
        # _sheet_data sends each row that is not plain through _formatted.
        append = ws.append
    else:

        def append(row: Sequence[Any]) -> None:
            ws.append(_formatted(row, formats, ws))

    for row in sheet.rows:
        append(row)
    if not sheet.rows and sheet.empty_text:
        append([sheet.empty_text])
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
            total.append(_as_text(Cell(ws, row=1, column=1, value=value, style_array=style)))
        ws.append(total)
    if sheet.notes:
        ws.append([])
        for note in sheet.notes:
            append([note])


def _sheet_data(ws: WriteOnlyWorksheet, formats: Sequence[Cell | None]) -> Generator[None, Sequence[Any], None]:
    """WriteOnlyWorksheet._write_rows (what ws.append sends each row to), with a shortcut for the rows of
    plain values that make up nearly all of a workbook: numbers, text, and dates in a date-formatted column.
    openpyxl makes a Cell of each value, infers its type and writes it element by element through lxml (about
    4 µs a cell); here such rows are written as text, the same XML openpyxl writes (test_lib_workbook holds
    it so), into the sheet's stream between what openpyxl writes. Every str is written as text (inlineStr),
    never as a formula or an error code. A row with anything else (styled cells, booleans, illegal characters,
    row dimensions, ...) goes through openpyxl's writer."""
    writer = ws._writer
    workbook = ws.parent
    xf = writer.xf.send(True)
    letters = [get_column_letter(index) for index in range(1, len(formats) + 1)]
    # Per column: the style id of its number format (found on first use, so that the workbook's styles are
    # numbered in the order openpyxl numbers them), and whether dates are written as numbers in it.
    style_ids: list[str | bool | None] = [False] * len(formats)
    date_columns = [
        template is not None and is_date_format(template.number_format) and not workbook.iso_dates
        for template in formats
    ]
    epoch = workbook.epoch
    pending: list[str] = []

    def flush() -> None:
        # What lxml holds goes out first, then the rows written as text.
        xf.flush()
        writer.out.write("".join(pending).encode("utf-8"))
        pending.clear()

    with xf.element("sheetData"):
        row_idx = 1
        try:
            while True:
                values = yield
                text = None
                if row_idx not in ws.row_dimensions:
                    text = _plain_row(values, row_idx, letters, formats, style_ids, date_columns, epoch)
                if text is None:
                    if pending:
                        flush()
                    writer.write_row(xf, ws._values_to_row(_formatted(values, formats, ws), row_idx), row_idx)
                else:
                    pending.append(text)
                row_idx += 1
        except GeneratorExit:
            pass
        if pending:
            flush()
    writer.xf.send(None)


def _formatted(values: Sequence[Any], formats: Sequence[Cell | None], ws: WriteOnlyWorksheet) -> list[Any]:
    """The row for openpyxl's writer: numbers and dates in a column with a number format go in its template
    cell (openpyxl writes each cell as soon as the row is appended, so one cell serves every row), and text
    that openpyxl would take for a formula or an error code in a cell of its own that holds it as text."""
    row = list(values)
    for index, value in enumerate(row):
        if isinstance(value, str):
            if not _is_text(value):
                row[index] = _text_cell(ws, value)
            continue
        template = formats[index] if index < len(formats) else None
        if template is not None and value is not None and not isinstance(value, Cell):
            template.value = value
            row[index] = template
    return row


def _plain_row(
    values: Sequence[Any],
    row_idx: int,
    letters: list[str],
    formats: Sequence[Cell | None],
    style_ids: list[str | bool | None],
    date_columns: list[bool],
    epoch: datetime.datetime,
) -> str | None:
    """The row's XML as openpyxl writes it, or None if the row needs openpyxl's own writer."""
    if len(values) > len(letters):
        return None
    row = str(row_idx)
    cells = []
    for index, value in enumerate(values):
        kind = type(value)
        if value is None:
            continue
        if kind is str:
            value = value[:32767]
            # Text is text, also when it starts with "=" or looks like an error code: as _formatted writes it.
            if ILLEGAL_CHARACTERS_RE.search(value):
                return None
            if not value:
                cells.append(f'<c r="{letters[index]}{row}" t="inlineStr"></c>')
                continue
            space = ' xml:space="preserve"' if value != value.strip() else ""
            text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
            cells.append(f'<c r="{letters[index]}{row}" t="inlineStr"><is><t{space}>{text}</t></is></c>')
            continue
        if kind is datetime.datetime or kind is datetime.date:
            if not date_columns[index] or getattr(value, "tzinfo", None) is not None:
                return None
            value = to_excel(value, epoch)
        elif kind is not int and kind is not float:
            return None
        if value != value or value in (math.inf, -math.inf):
            return None
        style = style_ids[index]
        if style is False:
            template = formats[index]
            style = style_ids[index] = str(template.style_id) if template is not None and template.has_style else None
        styled = f' s="{style}"' if style else ""
        cells.append(f'<c r="{letters[index]}{row}"{styled} t="n"><v>{value:.16g}</v></c>')  # as safe_string
    return f'<row r="{row}">{"".join(cells)}</row>'
