"""What goes into each archive: the activity workbook, the validation reports (VAL, ERR) and the ident check.

All labels are Norwegian (gettext under translation.override("nb")). File names carry kind, register,
year and ids, never names or identity numbers.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.dates import MONTHS
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from feedback import selectors
from feedback.lib.archives import ArchiveMember
from feedback.lib.workbook import DATETIME, INTEGER, PERCENT, Column, Sheet, workbook_bytes
from feedback.models import FeedbackReport
from portal.models import Register
from portal.readiness import FeedbackKind
from submissions.codes import KPR_SERVICE_CODES
from submissions.models import SnapshotDimension
from submissions.rules import RULES

LANGUAGE = "nb"

# Fixed Norwegian words in file names: stable whatever the translation says.
FILE_SLUGS = {
    FeedbackKind.ACTIVITY: "aktivitet",
    FeedbackKind.IDENT: "identkontroll",
    FeedbackKind.SCHEMA_VALIDATION: "skjemavalidering",
    FeedbackKind.CONTENT_VALIDATION: "innholdsvalidering",
}

# How to fix, per rule family (the finding's own text says what is wrong).
FIX_HINTS = {
    "SCHEMA": gettext_lazy(
        "Correct the message so that it follows the published JSON schema (field names, types, dates written "
        "YYYY-MM-DD), then send it again."
    ),
    "RECIPIENT": gettext_lazy("Correct the recipient address in the EPJ system's set-up, then send again."),
    "SENDER": gettext_lazy("Correct the sender information (organisation number, HER-id, municipality number)."),
    "PERIOD": gettext_lazy("Send the whole period from 1 January of the reporting year in one file."),
    "DATE": gettext_lazy("Correct the dates in the patient record and send the record again."),
    "RECORD": gettext_lazy("Give every record its own record_id, and delete only records the registry has."),
    "ICD": gettext_lazy("Use a valid ICD-10 code for the condition."),
    "NPR": gettext_lazy("Use one of the contact kinds NPR accepts."),
    "KPR": gettext_lazy("Use a service code and municipality number valid in the reporting year."),
    "PROVIDER": gettext_lazy("Give the organisation number of the provider that delivered the service."),
    "IDENT": gettext_lazy(
        "Check the identity number in the patient record. Test persons must never be sent to production."
    ),
    "CONTACT": gettext_lazy(
        "Register an e-mail address and a Norwegian mobile number for the contact, in the message or in the portal."
    ),
}


def fix_hint(rule_id: str) -> str:
    return str(FIX_HINTS.get(rule_id.split("-", 1)[0], ""))


def archive_name(report: FeedbackReport) -> str:
    """The archive's name outside: kind, register, year or message, and the submitter's id."""
    slug = FILE_SLUGS[FeedbackKind(report.kind)]
    parts = ["tilbakemelding", slug]
    if report.register:
        parts.append(report.register)
    if report.kind == FeedbackKind.ACTIVITY:
        parts.append(str(report.year))
    parts.append(f"innsender-{report.submitter_id}")
    if report.submission_id:
        parts.append(f"melding-{report.submission_id}")
    return "-".join(parts) + ".zip"


def build_members(report: FeedbackReport, *, now: datetime.datetime | None = None) -> list[ArchiveMember]:
    now = now or timezone.now()
    with translation.override(LANGUAGE):
        if report.kind == FeedbackKind.ACTIVITY:
            name = f"aktivitet-{report.register}-{report.year}.xlsx"
            return [ArchiveMember(name, activity_workbook(report, now=now), compress=False)]
        slug = FILE_SLUGS[FeedbackKind(report.kind)]
        name = f"{slug}-{report.register or 'melding'}-{report.submission_id}.html"
        if report.kind == FeedbackKind.IDENT:
            return [ArchiveMember(name, ident_html(report, now=now))]
        return [ArchiveMember(name, validation_html(report, now=now))]


# -- activity ------------------------------------------------------------------------------------


def _month_name(month: int) -> str:
    return str(MONTHS[month]).capitalize()


def _dimension_label(dimension: str) -> str:
    return str(SnapshotDimension(dimension).label)


def _category_columns(dimension: str) -> list[Column]:
    if dimension == "service_code":
        return [Column(_("Service code"), 12), Column(_("Service"), 48)]
    return [Column(_dimension_label(dimension), 18)]


def _category_values(dimension: str, category: str) -> list[Any]:
    if dimension == "service_code":
        known = KPR_SERVICE_CODES.get(category)
        return [category or "–", known.name if known else ""]
    return [category or "–"]


def _category_label(dimension: str, category: str) -> str:
    if dimension == "service_code":
        known = KPR_SERVICE_CODES.get(category)
        return f"{category} {known.name}" if known else category or "–"
    return category or "–"


def _category_sort_key(key: selectors.Category) -> tuple:
    dimension, category = key
    order = ("service_code", "contact_kind", "icd_chapter")
    return (order.index(dimension), int(category) if category.isdigit() else 10_000, category)


def activity_workbook(report: FeedbackReport, *, now: datetime.datetime) -> bytes:
    register, year = report.register, int(report.year)
    figures, last_year = selectors.activity_figures_with_last_year(
        submitter=report.submitter_id, register=register, year=year
    )
    findings, left_out = selectors.activity_findings(submitter=report.submitter_id, register=register, year=year)
    return workbook_bytes(activity_sheets(report, figures, last_year, findings, left_out, now=now))


def activity_sheets(
    report: FeedbackReport,
    figures: selectors.ActivityFigures,
    last_year: selectors.ActivityFigures,
    findings: Sequence[selectors.FindingRow],
    findings_left_out: int,
    *,
    now: datetime.datetime,
) -> list[Sheet]:
    register, year = figures.register, figures.year
    users = _("Patients") if register == Register.NPR else _("Users")
    # Labels looked up once each, not once per row (each is a translation lookup).
    month_names = {month: _month_name(month) for month in range(1, 13)}
    dimension_labels = {dimension: _dimension_label(dimension) for dimension in SnapshotDimension.values}
    severities = {"error": _("Error"), "warning": _("Warning")}
    fix_hints = {rule_id: fix_hint(rule_id) for rule_id in {f.rule_id for f in findings}}
    submitter = report.submitter
    count = [Column(_("Records"), 12, INTEGER), Column(users, 14, INTEGER)]

    summary_rows = [
        [_("Submitter"), submitter.name],
        [_("Organisation number"), submitter.org_number],
        [_("Register"), register],
        [_("Year"), str(year)],
        [_("Period"), report.period_label or str(year)],
        [_("Records"), figures.total.records],
        [users, figures.total.patients],
        [_("Records last year"), last_year.total.records],
        [_("%(users)s last year") % {"users": users}, last_year.total.patients],
        [_("Findings in the year's receipts"), len(findings) + findings_left_out],
        [_("Produced"), date_format(timezone.localtime(now), "DATETIME_FORMAT")],
    ]
    summary = Sheet(
        _("Summary"),
        [Column(_("Key figure"), 34), Column(_("Value"), 40, INTEGER)],
        rows=summary_rows,
        notes=[
            _(
                "The numbers count the records the registry holds now (deleted records excluded), by event date; "
                "they are the same as in the daily view of received data."
            ),
            _("Check that all your activity arrived. Correct and send again before the deadline."),
        ],
    )

    months = sorted(figures.by_month)
    per_month = Sheet(
        _("Per month"),
        [Column(_("Month"), 14), *count],
        rows=[[month_names[m], figures.by_month[m].records, figures.by_month[m].patients] for m in months],
        total=[_("Total"), figures.total.records, figures.total.patients],
        empty_text=_("No records for the year."),
    )

    # One tab for the categories of every breakdown (NPR: contact kind, then ICD-10 chapter); each breakdown
    # divides all the records, so each adds up to the total.
    keys = sorted(figures.by_category, key=_category_sort_key)
    if register == Register.KPR:
        category_columns = _category_columns("service_code")
        category_rows = [
            [*_category_values(d, c), figures.by_category[(d, c)].records, figures.by_category[(d, c)].patients]
            for d, c in keys
        ]
    else:
        category_columns = [Column(_("Breakdown"), 18), Column(_("Category"), 24)]
        category_rows = [
            [dimension_labels[d], c or "–", figures.by_category[(d, c)].records, figures.by_category[(d, c)].patients]
            for d, c in keys
        ]
    per_category = Sheet(
        str(_("Per service") if register == Register.KPR else _("Per category")),
        [*category_columns, *count],
        rows=category_rows,
        total=[_("Total"), "", figures.total.records, figures.total.patients],
        empty_text=_("No records for the year."),
    )

    cells = sorted(figures.cells, key=lambda key: (key[0], _category_sort_key(key[1:])))
    per_month_category = Sheet(
        _("Month and category"),
        [Column(_("Month"), 14), Column(_("Breakdown"), 18), Column(_("Category"), 40), *count],
        rows=[
            [
                month_names[m],
                dimension_labels[d],
                _category_label(d, c),
                figures.cells[(m, d, c)].records,
                figures.cells[(m, d, c)].patients,
            ]
            for m, d, c in cells
        ],
        empty_text=_("No records for the year."),
    )

    conditions = sorted(figures.condition_codes.items(), key=lambda item: (-item[1][1], item[0]))
    condition_sheet = Sheet(
        _("Condition codes"),
        [
            Column(_("ICD-10 code"), 14),
            Column(_("Records, main condition"), 22, INTEGER),
            Column(_("Records, any position"), 22, INTEGER),
        ],
        rows=[[code, main, anywhere] for code, (main, anywhere) in conditions],
        empty_text=_("No condition codes in the records."),
    )
    procedures = sorted(figures.procedure_codes.items(), key=lambda item: (-item[1], item[0]))
    procedure_sheet = Sheet(
        _("Procedure codes"),
        [Column(_("Procedure code"), 16), Column(_("Records"), 12, INTEGER)],
        rows=[[code, n] for code, n in procedures],
        empty_text=_("No procedure codes in the records."),
    )

    finding_sheet = Sheet(
        _("Findings"),
        [
            Column(_("Received"), 17, DATETIME),
            Column(_("Rule"), 13),
            Column(_("Severity"), 11),
            Column(_("Record"), 18),
            Column(_("Where"), 26),
            Column(_("What is wrong"), 70),
            Column(_("How to fix it"), 60),
        ],
        rows=[
            [
                timezone.localtime(f.received_at).replace(tzinfo=None),
                f.rule_id,
                severities["error" if f.severity == "error" else "warning"],
                f.record_id,
                f.path,
                f.message,
                fix_hints[f.rule_id],
            ]
            for f in findings
        ],
        empty_text=_("No findings: every record passed the registry's rules."),
        notes=[_("%(count)s more findings are not listed.") % {"count": findings_left_out}]
        if findings_left_out
        else (),
    )

    # The daily view's thresholds for a large change, so that the workbook flags the same categories.
    min_percent = getattr(settings, "DAILY_VIEW_LARGE_CHANGE_PERCENT", 20)
    min_users = getattr(settings, "DAILY_VIEW_LARGE_CHANGE_MIN_USERS", 10)
    compared = sorted(set(figures.by_category) | set(last_year.by_category), key=_category_sort_key)
    comparison_rows = []
    for dimension, category in compared:
        now_tally = figures.by_category.get((dimension, category), selectors.Tally())
        then = last_year.by_category.get((dimension, category), selectors.Tally())
        change = now_tally.patients - then.patients
        ratio = change / then.patients if then.patients else None
        large = abs(change) >= min_users and (ratio is None or abs(ratio) * 100 >= min_percent)
        comparison_rows.append(
            [
                dimension_labels[dimension],
                _category_label(dimension, category),
                then.records,
                now_tally.records,
                then.patients,
                now_tally.patients,
                change,
                ratio,
                _("Yes") if large else "",
            ]
        )
    comparison = Sheet(
        _("Compared with last year"),
        [
            Column(_("Breakdown"), 18),
            Column(_("Category"), 40),
            Column(_("Records %(year)s") % {"year": year - 1}, 14, INTEGER),
            Column(_("Records %(year)s") % {"year": year}, 14, INTEGER),
            Column(f"{users} {year - 1}", 14, INTEGER),
            Column(f"{users} {year}", 14, INTEGER),
            Column(_("Change"), 11, INTEGER),
            Column(_("Change in per cent"), 12, PERCENT),
            Column(_("Large change"), 11),
        ],
        rows=comparison_rows,
        empty_text=_("No records this year or last year."),
        notes=[
            _(
                "A large change (at least %(percent)s %% and at least %(users)s users) is often a sign of a "
                "data-quality problem: check the data, or explain the cause in the daily view."
            )
            % {"percent": min_percent, "users": min_users}
        ],
    )
    return [
        summary,
        per_month,
        per_category,
        per_month_category,
        condition_sheet,
        procedure_sheet,
        finding_sheet,
        comparison,
    ]


# -- validation and ident reports (standalone HTML) -----------------------------------------------


def _common_context(report: FeedbackReport, now: datetime.datetime) -> dict[str, Any]:
    submission = report.submission
    return {
        "report": report,
        "submitter": report.submitter,
        "submission": submission,
        "produced_at": date_format(timezone.localtime(now), "DATETIME_FORMAT"),
        "received_at": date_format(timezone.localtime(submission.received_at), "DATETIME_FORMAT") if submission else "",
        "registry_email": {"NPR": "npr@fhi.no", "KPR": "kpr@fhi.no"}.get(report.register, "npr@fhi.no"),
        "portal_name": _("Registry reporting portal"),
        "language": LANGUAGE,
        "debug": settings.DEBUG,
    }


def validation_html(report: FeedbackReport, *, now: datetime.datetime) -> bytes:
    findings = selectors.submission_findings(report.submission)
    rows = [
        {
            "finding": finding,
            "severity": _("Error") if finding.severity == "error" else _("Warning"),
            "rule_version": getattr(RULES.get(finding.rule_id), "version", ""),
            "hint": fix_hint(finding.rule_id),
        }
        for finding in findings
    ]
    receipt = report.submission.receipt or {}
    context = {
        **_common_context(report, now),
        "schema": report.kind == FeedbackKind.SCHEMA_VALIDATION,
        "rows": rows,
        "errors": sum(1 for f in findings if f.severity == "error"),
        "warnings": sum(1 for f in findings if f.severity != "error"),
        "truncated": int(receipt.get("findings_truncated", 0)),
        "counts": receipt.get("counts", {}),
    }
    return render_to_string("feedback/files/validation.html", context).encode("utf-8")


def ident_html(report: FeedbackReport, *, now: datetime.datetime) -> bytes:
    figures = selectors.ident_figures(submission=report.submission)
    context = {
        **_common_context(report, now),
        "figures": figures,
        "list_limit": selectors.LIST_LIMIT,
        "check_labels": _check_labels(figures.checks),
    }
    return render_to_string("feedback/files/ident.html", context).encode("utf-8")


def _check_labels(checks: dict[str, int]) -> list[tuple[str, int]]:
    labels = {
        "valid": _("National identity number (fødselsnummer)"),
        "d_number": _("D-number"),
        "synthetic": _("Synthetic test person"),
    }
    return [(str(labels.get(check, check or "–")), count) for check, count in sorted(checks.items())]
