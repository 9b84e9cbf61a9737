"""Reads for the submitter's daily view ("Mottatte data"): what the registry received, month by month and per
category, beside the same period last year; large changes and their comments; what is missing; and the
completeness of each deadline. Callers get the submitter through portal.access first.

Everything about counts comes from the snapshot (submissions/snapshot.py); deadlines and the daily feed come
from the deadlines module, so that "on time" means the same everywhere.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal import access
from portal.models import Register, Submitter
from submissions import selectors, selectors_deadlines
from submissions.codes import KPR_SERVICE_CODES, NPR_CONTACT_KINDS
from submissions.deadlines import OnTimeStatus, classify_delivery, delivery_condition, effective_deadline_from
from submissions.models import (
    SNAPSHOT_DIMENSIONS,
    ChangeComment,
    Deadline,
    Extension,
    SnapshotDimension,
    SnapshotMonth,
    SnapshotRun,
    SnapshotYear,
    Submission,
)
from submissions.snapshot import snapshot_as_of
from submissions.workdays import start_of_day_oslo

SUBMISSIONS_SHOWN = 10
FIRST_YEAR = 2000

# WHO ICD-10 chapters with their Norwegian names (the registries' code list), in chapter order.
ICD10_CHAPTER_NAMES = {
    "I": "Visse infeksjonssykdommer og parasittsykdommer",
    "II": "Svulster",
    "III": "Sykdommer i blod og bloddannende organer og visse immunforstyrrelser",
    "IV": "Endokrine sykdommer, ernæringssykdommer og metabolske forstyrrelser",
    "V": "Psykiske lidelser og atferdsforstyrrelser",
    "VI": "Sykdommer i nervesystemet",
    "VII": "Sykdommer i øyet og øyets omgivelser",
    "VIII": "Sykdommer i øre og ørebensknute",
    "IX": "Sykdommer i sirkulasjonssystemet",
    "X": "Sykdommer i åndedrettssystemet",
    "XI": "Sykdommer i fordøyelsessystemet",
    "XII": "Sykdommer i hud og underhud",
    "XIII": "Sykdommer i muskel-skjelettsystemet og bindevev",
    "XIV": "Sykdommer i urinveier og kjønnsorganer",
    "XV": "Svangerskap, fødsel og barseltid",
    "XVI": "Visse tilstander som oppstår i perinatalperioden",
    "XVII": "Medfødte misdannelser, deformiteter og kromosomavvik",
    "XVIII": "Symptomer, tegn, unormale kliniske funn og laboratoriefunn",
    "XIX": "Skader, forgiftninger og visse andre konsekvenser av ytre årsaker",
    "XX": "Ytre årsaker til sykdom og død",
    "XXI": "Faktorer som har betydning for helsetilstand og kontakt med helsetjenesten",
    "XXII": "Koder for spesielle formål",
}
_CHAPTER_ORDER = {chapter: index for index, chapter in enumerate(ICD10_CHAPTER_NAMES)}


# -- categories and the large-change rule ---------------------------------------------------------


@dataclass(frozen=True)
class Category:
    dimension: str
    code: str

    @property
    def key(self) -> str:
        return f"{self.dimension}:{self.code}"

    @property
    def label(self) -> str:
        return category_label(self.dimension, self.code)

    @property
    def dimension_label(self) -> str:
        return str(SnapshotDimension(self.dimension).label)

    @property
    def sort_key(self) -> tuple:
        if self.dimension == SnapshotDimension.SERVICE_CODE:
            return (0, int(self.code) if self.code.isdigit() else 999, self.code)
        if self.dimension == SnapshotDimension.ICD_CHAPTER:
            return (0, _CHAPTER_ORDER.get(self.code, 999), self.code)
        if self.dimension == SnapshotDimension.CONTACT_KIND:
            return (0, list(NPR_CONTACT_KINDS).index(self.code) if self.code in NPR_CONTACT_KINDS else 999, self.code)
        return (-1, 0, "")

    @classmethod
    def parse(cls, key: str, register: str) -> Category | None:
        dimension, _, code = (key or "").partition(":")
        if dimension not in SNAPSHOT_DIMENSIONS.get(register, ()):
            return None
        return cls(dimension, "" if dimension == SnapshotDimension.TOTAL else code)


TOTAL = Category(SnapshotDimension.TOTAL, "")


def category_label(dimension: str, code: str) -> str:
    """'10 Helsetjenester i hjemmet', 'Poliklinisk kontakt', 'V Psykiske lidelser ...'."""
    if dimension == SnapshotDimension.TOTAL:
        return str(_("All categories"))
    if not code:
        return str(_("(not given)"))
    if dimension == SnapshotDimension.SERVICE_CODE:
        known = KPR_SERVICE_CODES.get(code)
        return f"{code} {known.name}" if known else code
    if dimension == SnapshotDimension.CONTACT_KIND:
        return NPR_CONTACT_KINDS.get(code, code)
    if dimension == SnapshotDimension.ICD_CHAPTER:
        name = ICD10_CHAPTER_NAMES.get(code)
        return f"{code} {name}" if name else code
    return code


class ChangeFlag:
    NONE = ""
    INCREASE = "increase"
    DECREASE = "decrease"
    NEW = "new"
    VANISHED = "vanished"


def change_flag(users: int, previous: int) -> str:
    """Large change in distinct users against the same period last year: at least
    DAILY_VIEW_LARGE_CHANGE_MIN_USERS users and at least DAILY_VIEW_LARGE_CHANGE_PERCENT percent."""
    difference = users - previous
    if abs(difference) < settings.DAILY_VIEW_LARGE_CHANGE_MIN_USERS:
        return ChangeFlag.NONE
    if previous and abs(difference) * 100 < settings.DAILY_VIEW_LARGE_CHANGE_PERCENT * previous:
        return ChangeFlag.NONE
    if previous == 0:
        return ChangeFlag.NEW
    if users == 0:
        return ChangeFlag.VANISHED
    return ChangeFlag.INCREASE if difference > 0 else ChangeFlag.DECREASE


def comparison_month(year: int, today: datetime.date) -> int:
    """The months compared with last year: the whole of a past year, January up to this month for this year."""
    if year < today.year:
        return 12
    if year == today.year:
        return today.month
    return 0


# -- the view's data ------------------------------------------------------------------------------


@dataclass
class Figures:
    records: int = 0
    users: int = 0


@dataclass
class MonthLine:
    month: int
    current: Figures | None  # None: the month has not begun
    previous: Figures

    @property
    def date(self) -> datetime.date:
        return datetime.date(2000, self.month, 1)


@dataclass
class CategoryLine:
    category: Category
    current: Figures
    previous: Figures
    flag: str = ChangeFlag.NONE
    comments: list[ChangeComment] = field(default_factory=list)  # newest first

    @property
    def change(self) -> int:
        return self.current.users - self.previous.users

    @property
    def percent(self) -> float | None:
        if not self.previous.users:
            return None
        return 100.0 * self.change / self.previous.users

    @property
    def comment(self) -> ChangeComment | None:
        return self.comments[0] if self.comments else None

    @property
    def vanished(self) -> bool:
        return self.previous.users > 0 and self.current.users == 0


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    label: str
    lines: list[CategoryLine]

    @property
    def flagged(self) -> list[CategoryLine]:
        return [line for line in self.lines if line.flag]


@dataclass(frozen=True)
class DeadlineCompleteness:
    deadline: Deadline
    due_at: datetime.datetime
    extended: bool
    delivered_at: datetime.datetime | None
    timeliness: OnTimeStatus
    # not_received / rejected / received_with_errors / received
    receipt: str
    overdue: bool


@dataclass
class DailyView:
    submitter: Submitter
    register: str
    year: int
    registers: list[str]
    years: list[int]
    category: Category
    categories: list[Category]
    through_month: int
    complete: bool
    months: list[MonthLine]
    total: MonthLine | None  # the compared months' totals (records summed; users distinct)
    previous_whole_year: Figures | None  # when this year is not over: last year in full
    breakdowns: list[Breakdown]
    missing_months: list[int]
    has_data: bool
    as_of: SnapshotRun | None
    daily: selectors_deadlines.DailyReporting | None = None
    deadlines: list[DeadlineCompleteness] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    can_comment: bool = False

    @property
    def previous_year(self) -> int:
        return self.year - 1

    @property
    def vanished(self) -> list[CategoryLine]:
        return [line for breakdown in self.breakdowns for line in breakdown.lines if line.vanished]

    @property
    def flagged(self) -> list[CategoryLine]:
        return [line for breakdown in self.breakdowns for line in breakdown.flagged]

    @property
    def silent(self) -> bool:
        return bool(self.daily and self.daily.working_days_without_message >= settings.DAILY_VIEW_SILENT_WORKING_DAYS)

    @property
    def through_date(self) -> datetime.date:
        return datetime.date(self.year, max(1, self.through_month), 1)

    @property
    def missing_dates(self) -> list[datetime.date]:
        return [datetime.date(self.year, month, 1) for month in self.missing_months]


def _registers(submitter: Submitter, with_data: set[str]) -> list[str]:
    return [register for register in Register.values if register in with_data or register in submitter.registers]


def daily_view(
    *,
    submitter: Submitter,
    register: str | None = None,
    year: int | None = None,
    category: str = "",
    user: Any = None,
    today: datetime.date | None = None,
    details: bool = True,
) -> DailyView:
    """The numbers for one register and year. `details=False` leaves out deadlines, submissions and the
    daily feed (the downloads of the month and category tables need only the snapshot)."""
    today = today or timezone.localdate()
    year_rows = list(
        SnapshotYear.objects.filter(submitter=submitter).only(
            "register",
            "year",
            "dimension",
            "category",
            "records",
            "users",
            *(f"users_through_{month}" for month in range(1, 13)),
        )
    )
    with_data = {row.register for row in year_rows}
    registers = _registers(submitter, with_data)
    if register not in registers:
        register = registers[0] if registers else Register.KPR
    data_years = sorted({row.year for row in year_rows if row.register == register}, reverse=True)
    if year is None or not (FIRST_YEAR <= year <= today.year + 5):
        year = next((y for y in data_years if y <= today.year), today.year)
    # A year without data can still have deadlines (and be asked for in a link).
    years = sorted(set(data_years) | {today.year, year}, reverse=True)
    previous_year = year - 1
    through = comparison_month(year, today)

    selected = Category.parse(category, register) or TOTAL
    month_rows = SnapshotMonth.objects.filter(
        submitter=submitter, register=register, year__in=[year, previous_year]
    ).values_list("year", "month", "dimension", "category", "records", "users")
    monthly: dict[tuple[int, Category], dict[int, Figures]] = defaultdict(dict)
    for row_year, month, dimension, code, records, users in month_rows:
        monthly[(row_year, Category(dimension, code))][month] = Figures(records, users)
    yearly = {
        (row.year, Category(row.dimension, row.category)): row
        for row in year_rows
        if row.register == register and row.year in (year, previous_year)
    }

    def period(row_year: int, cat: Category) -> Figures:
        """Records and distinct users from January through the compared month."""
        row = yearly.get((row_year, cat))
        if row is None or through == 0:
            return Figures()
        records = sum(f.records for m, f in monthly[(row_year, cat)].items() if m <= through)
        return Figures(records, getattr(row, f"users_through_{through}"))

    categories = sorted(
        {cat for (_y, cat) in yearly if cat.dimension != SnapshotDimension.TOTAL}, key=lambda c: c.sort_key
    )
    if selected != TOTAL and selected not in categories:
        categories = sorted([*categories, selected], key=lambda c: c.sort_key)

    months = []
    for month in range(1, 13):
        begun = year < today.year or (year == today.year and month <= today.month)
        current = monthly[(year, selected)].get(month, Figures()) if begun else None
        months.append(MonthLine(month, current, monthly[(previous_year, selected)].get(month, Figures())))
    total = MonthLine(0, period(year, selected), period(previous_year, selected)) if through else None
    whole = None
    if 0 < through < 12 and (previous_row := yearly.get((previous_year, selected))) is not None:
        whole = Figures(previous_row.records, previous_row.users)

    comments: dict[Category, list[ChangeComment]] = defaultdict(list)
    if details:
        for comment in (
            ChangeComment.objects.filter(submitter=submitter, register=register, year=year)
            .select_related("author")
            .order_by("-created_at", "-id")
        ):
            comments[Category(comment.dimension, comment.category)].append(comment)
    breakdowns = []
    for dimension in SNAPSHOT_DIMENSIONS.get(register, ()):
        if dimension == SnapshotDimension.TOTAL:
            continue
        lines = []
        for cat in (c for c in categories if c.dimension == dimension):
            current, previous = period(year, cat), period(previous_year, cat)
            if not (current.records or previous.records or comments.get(cat)):
                continue
            lines.append(
                CategoryLine(cat, current, previous, change_flag(current.users, previous.users), comments.get(cat, []))
            )
        breakdowns.append(Breakdown(dimension, str(SnapshotDimension(dimension).label), lines))

    has_data = (year, TOTAL) in yearly
    last_complete = 12 if year < today.year else (today.month - 1 if year == today.year else 0)
    missing = [m for m in range(1, last_complete + 1) if m not in monthly[(year, TOTAL)]]

    view = DailyView(
        submitter=submitter,
        register=register,
        year=year,
        registers=registers,
        years=years,
        category=selected,
        categories=categories,
        through_month=through,
        complete=year < today.year,
        months=months,
        total=total,
        previous_whole_year=whole,
        breakdowns=breakdowns,
        missing_months=missing,
        has_data=has_data,
        as_of=snapshot_as_of(submitter=submitter),
    )
    if details:
        view.daily = selectors_deadlines.daily_reporting(submitter=submitter, today=today)
        view.deadlines = deadline_completeness(submitter=submitter, register=register, year=year)
        view.submissions = list(
            selectors.submission_list(submitter=submitter).filter(register=register)[:SUBMISSIONS_SHOWN]
        )
        view.can_comment = user is not None and access.can_comment(user, submitter)
    return view


# -- deadlines ------------------------------------------------------------------------------------


def deadline_completeness(
    *, submitter: Submitter, register: str, year: int, now: datetime.datetime | None = None
) -> list[DeadlineCompleteness]:
    """Each deadline of the year that applies: was it received (and how), and on time? One query for the
    extensions and one for the submitter's messages, each marked with the deadlines it delivers (the rule of
    `deadlines.delivery_condition`, as for `selectors_deadlines.accepted_delivery_at`) or was refused for."""
    now = now or timezone.now()
    deadlines = [d for d in selectors_deadlines.deadlines_for(submitter, year) if d.register == register]
    if not deadlines:
        return []
    extensions = list(
        Extension.objects.filter(submitter=submitter, deadline__in=deadlines, status=Extension.Status.GRANTED)
    )
    effective = {deadline.pk: effective_deadline_from(deadline, extensions) for deadline in deadlines}
    delivers = {
        deadline.pk: delivery_condition(deadline, effective[deadline.pk].due_at) & Q(kind__in=deadline.message_kinds)
        for deadline in deadlines
    }
    refused = {deadline.pk: _refused_condition(deadline) for deadline in deadlines}
    flags = {f"delivers_{pk}": condition for pk, condition in delivers.items()} | {
        f"refused_{pk}": condition for pk, condition in refused.items()
    }
    any_flag = Q()
    for condition in flags.values():
        any_flag |= condition
    messages = list(
        Submission.objects.filter(any_flag, submitter=submitter)
        .annotate(
            **{name: ExpressionWrapper(condition, output_field=BooleanField()) for name, condition in flags.items()}
        )
        .order_by("-received_at", "-id")
        .values("kind", "status", "received_at", *flags)
    )
    result = []
    for deadline in deadlines:
        due_at = effective[deadline.pk].due_at
        delivering = [m for m in messages if m[f"delivers_{deadline.pk}"]]
        delivered_at = selectors_deadlines.delivered_at(
            [(m["kind"], m["received_at"]) for m in delivering], kinds=deadline.message_kinds, due_at=due_at
        )
        if delivered_at is not None:
            latest: dict[str, str] = {}  # per kind, the newest delivering message up to the delivery
            for message in delivering:
                if message["received_at"] <= delivered_at:
                    latest.setdefault(message["kind"], message["status"])
            receipt = (
                "received_with_errors" if Submission.Status.ACCEPTED_WITH_ERRORS in latest.values() else "received"
            )
        else:
            receipt = "rejected" if any(m[f"refused_{deadline.pk}"] for m in messages) else "not_received"
        result.append(
            DeadlineCompleteness(
                deadline=deadline,
                due_at=due_at,
                extended=effective[deadline.pk].is_extended,
                delivered_at=delivered_at,
                timeliness=classify_delivery(calendar_due_at=deadline.due_at, due_at=due_at, delivered_at=delivered_at),
                receipt=receipt,
                overdue=delivered_at is None and now > due_at,
            )
        )
    return result


def _refused_condition(deadline: Deadline) -> Q:
    """A real message for the register refused since the period began (and not for a later period)."""
    return (Q(period_start__isnull=True) | Q(period_start__lte=deadline.period_end)) & Q(
        register=deadline.register,
        validate_only=False,
        status=Submission.Status.REJECTED,
        received_at__gte=start_of_day_oslo(deadline.period_start),
    )


__all__ = [
    "Category",
    "ChangeFlag",
    "DailyView",
    "category_label",
    "change_flag",
    "comparison_month",
    "daily_view",
    "deadline_completeness",
]
