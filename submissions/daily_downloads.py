"""The daily view's tables as CSV and Excel files, and the registry's overview as a workbook.

Files are attachments with a name the server chooses (ids, register and year: nothing personal). CSV is what
Norwegian Excel opens directly: UTF-8 with a byte-order mark, semicolons, decimal commas. Workbooks are
written with openpyxl in write-only mode (rows stream; no cell objects kept).
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from submissions import selectors
from submissions.daily_overview import EXPORT_LIMIT, Changes, DeadlineRate, SubmitterStatus
from submissions.daily_view import Category, DailyView, category_label
from submissions.deadlines import OnTimeStatus
from submissions.models import SnapshotMonth
from submissions.workdays import OSLO

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Table:
    title: str  # the sheet's name: at most 31 characters
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]


def attachment(content: bytes, filename: str, content_type: str) -> HttpResponse:
    """A download the browser saves and never renders."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store, private"
    return response


# What a spreadsheet may take for the start of a formula in a CSV field (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: Any) -> str:
    """The CSV field. Only text (str) given to us is checked for a formula's start: numbers are formatted
    here (a negative count or percentage stays a number) and never quoted."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    if isinstance(value, datetime.datetime):
        return value.astimezone(OSLO).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str):
        if value.startswith(_FORMULA_START):
            return "'" + value  # a spreadsheet must not take text for a formula
        return value
    return str(value)


def csv_bytes(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([_text(title) for title in table.headers])
    for row in table.rows:
        writer.writerow([_text(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _text_cell(sheet: WriteOnlyWorksheet, value: str) -> WriteOnlyCell:
    """A cell that holds `value` as text: openpyxl writes a str that starts with "=" as a formula and one like
    "#N/A" as an error code. The text is kept as it is (a text cell is inert; no quote is added)."""
    cell = WriteOnlyCell(sheet, value=_storable(value))
    cell.data_type = "s"
    return cell


def _storable(value: str) -> str:
    """Control characters (e.g. pasted into a comment) cannot be stored in xlsx: openpyxl would refuse the whole
    file. They are shown as U+FFFD; the text in the portal is unchanged."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)


def _cell_value(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.astimezone(OSLO).replace(tzinfo=None)  # Excel has no time zones: Norwegian time
    if isinstance(value, str) and ((len(value) > 1 and value[0] == "=") or value in ERROR_CODES):
        return _text_cell(sheet, value)
    if isinstance(value, str):
        return _storable(value)
    return value


def xlsx_bytes(tables: Sequence[Table]) -> bytes:
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(title=table.title[:31])
        sheet.freeze_panes = "A2"
        header = []
        for title in table.headers:
            cell = _text_cell(sheet, title)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in table.rows:
            sheet.append([_cell_value(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# -- the submitter's tables -----------------------------------------------------------------------


def months_table(view: DailyView) -> Table:
    """Every month and category of the year and the year before (one query)."""
    rows = SnapshotMonth.objects.filter(
        submitter=view.submitter, register=view.register, year__in=[view.year, view.previous_year]
    ).values_list("year", "month", "dimension", "category", "records", "users", "last_received_at")
    ordered = sorted(rows, key=lambda r: (-r[0], Category(r[2], r[3]).sort_key, r[1]))
    return Table(
        title=_("Months"),
        headers=[
            _("Year"),
            _("Month"),
            _("Breakdown"),
            _("Code"),
            _("Category"),
            _("Records"),
            _("Distinct users"),
            _("Last received"),
        ],
        rows=[
            (
                year,
                month,
                Category(dimension, code).dimension_label,
                code,
                category_label(dimension, code),
                records,
                users,
                last,
            )
            for year, month, dimension, code, records, users, last in ordered
        ],
    )


def _flag_label(flag: str) -> str:
    labels = {
        "": "",
        "increase": _("Large increase"),
        "decrease": _("Large decrease"),
        "new": _("New"),
        "vanished": _("Vanished"),
    }
    return labels.get(flag, flag)


def categories_table(view: DailyView) -> Table:
    rows = []
    for breakdown in view.breakdowns:
        for line in breakdown.lines:
            rows.append(
                (
                    breakdown.label,
                    line.category.code,
                    line.category.label,
                    line.current.records,
                    line.current.users,
                    line.previous.records,
                    line.previous.users,
                    line.change,
                    line.percent,
                    _flag_label(line.flag),
                    line.comment.text if line.comment else "",
                )
            )
    return Table(
        title=_("Categories"),
        headers=[
            _("Breakdown"),
            _("Code"),
            _("Category"),
            _("Records %(year)s") % {"year": view.year},
            _("Users %(year)s") % {"year": view.year},
            _("Records %(year)s") % {"year": view.previous_year},
            _("Users %(year)s") % {"year": view.previous_year},
            _("Change in users"),
            _("Change (%)"),
            _("Large change"),
            _("Comment"),
        ],
        rows=rows,
    )


def _receipt_label(receipt: str) -> str:
    return {
        "not_received": _("Not received"),
        "rejected": _("Rejected"),
        "received_with_errors": _("Received with errors"),
        "received": _("Received"),
    }.get(receipt, receipt)


def deadlines_table(view: DailyView) -> Table:
    return Table(
        title=_("Deadlines"),
        headers=[_("Register"), _("Period"), _("Deadline"), _("Extended"), _("Received"), _("On time"), _("Delivered")],
        rows=[
            (
                item.deadline.register,
                item.deadline.period_display,
                item.due_at,
                _("yes") if item.extended else _("no"),
                _receipt_label(item.receipt),
                str(OnTimeStatus(item.timeliness).label),
                item.delivered_at,
            )
            for item in view.deadlines
        ],
    )


def submissions_table(view: DailyView) -> Table:
    """All the register's submissions (up to EXPORT_LIMIT), not only those on the page."""
    submissions = selectors.submission_list(submitter=view.submitter).filter(register=view.register)[:EXPORT_LIMIT]
    return Table(
        title=_("Submissions"),
        headers=[_("Received"), _("Register"), _("Message"), _("Mode"), _("Status"), _("Records"), _("With errors")],
        rows=[
            (
                submission.received_at,
                submission.register,
                submission.get_kind_display(),
                submission.get_mode_display(),
                submission.get_status_display(),
                submission.count_received,
                submission.count_invalid,
            )
            for submission in submissions
        ],
    )


SUBMITTER_TABLES = {
    "maaneder": months_table,
    "kategorier": categories_table,
    "frister": deadlines_table,
    "innsendinger": submissions_table,
}


# -- the registry's overview ----------------------------------------------------------------------


def rates_table(rates: Sequence[DeadlineRate]) -> Table:
    return Table(
        title=_("Reporting rate"),
        headers=[
            _("Register"),
            _("Period"),
            _("Deadline"),
            _("Expected"),
            _("Received"),
            _("On time"),
            _("On time with extension"),
            _("Late"),
            _("Missing"),
            _("Received (%)"),
        ],
        rows=[
            (
                rate.deadline.register,
                rate.deadline.period_display,
                rate.deadline.due_date,
                rate.expected,
                rate.received,
                rate.on_time,
                rate.on_time_with_extension,
                rate.late,
                rate.missing,
                rate.percent_received,
            )
            for rate in rates
        ],
    )


def changes_table(changes: Changes) -> Table:
    return Table(
        title=_("Largest changes"),
        headers=[
            _("Municipality"),
            _("Municipality number"),
            _("Code"),
            _("Category"),
            _("Users %(year)s") % {"year": changes.year},
            _("Users %(year)s") % {"year": changes.year - 1},
            _("Change in users"),
            _("Change (%)"),
            _("Comment"),
            _("Comment by"),
        ],
        rows=[
            (
                row.submitter.name,
                row.submitter.municipality_number,
                row.category.code,
                row.category.label,
                row.users,
                row.previous_users,
                row.change,
                row.percent,
                row.comment.text if row.comment else "",
                (row.comment.author.get_full_name() or row.comment.author.username) if row.comment else "",
            )
            for row in changes.rows
        ],
    )


def status_table(rows: Sequence[SubmitterStatus]) -> Table:
    return Table(
        title=_("Submitters"),
        headers=[_("Submitter"), _("Organisation number"), _("Kind"), _("Deadline"), _("Delivered"), _("Status")],
        rows=[
            (
                row.submitter.name,
                row.submitter.org_number,
                row.submitter.get_kind_display(),
                row.due_at,
                row.delivered_at,
                str(OnTimeStatus(row.status).label),
            )
            for row in rows
        ],
    )
