"""What arrived: submissions (one per message), records with their versions."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Register, Submitter
from portal.validators import ChoiceSubsetValidator
from submissions.workdays import end_of_day_oslo


class MessageKind(models.TextChoices):
    ACTIVITY = "activity", _("Activity")
    IDENT = "ident", _("Identity")


class Submission(models.Model):
    """One message as received: who sent it, when, how, and the receipt it got."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        ACCEPTED_WITH_ERRORS = "accepted_with_errors", _("Accepted with errors")
        REJECTED = "rejected", _("Rejected")

    class Mode(models.TextChoices):
        CHANGE = "change", _("Changes only")
        FULL = "full", _("Full period")

    class Channel(models.TextChoices):
        API = "api", _("API")
        PORTAL = "portal", _("Portal")

    submitter = models.ForeignKey(Submitter, on_delete=models.PROTECT, related_name="submissions")
    message_id = models.UUIDField(_("message id"))
    # The organisation whose credentials sent the message: the submitter itself or its EPJ vendor.
    # Idempotency keys are scoped to it, so one sender can't probe another's message ids.
    client_org_number = models.CharField(max_length=9)
    client_id = models.CharField(max_length=200, blank=True)
    body_sha256 = models.CharField(max_length=64)
    register = models.CharField(_("register"), max_length=3, choices=Register.choices)
    kind = models.CharField(_("kind"), max_length=16, choices=MessageKind.choices)
    mode = models.CharField(_("mode"), max_length=16, choices=Mode.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.API)
    schema_version = models.CharField(max_length=16, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    status = models.CharField(_("status"), max_length=32, choices=Status.choices)
    validate_only = models.BooleanField(default=False)
    system_name = models.CharField(max_length=200, blank=True)
    system_version = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(_("received"), db_index=True)
    count_received = models.PositiveIntegerField(default=0)
    count_created = models.PositiveIntegerField(default=0)
    count_updated = models.PositiveIntegerField(default=0)
    count_deleted = models.PositiveIntegerField(default=0)
    count_unchanged = models.PositiveIntegerField(default=0)
    count_invalid = models.PositiveIntegerField(default=0)
    count_errors = models.PositiveIntegerField(default=0)
    count_warnings = models.PositiveIntegerField(default=0)
    receipt = models.JSONField(_("receipt"))

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        constraints = [
            # Validation-only messages have no side effects, so a sender may test a message and then
            # send it for real with the same message_id.
            models.UniqueConstraint(
                fields=["client_org_number", "message_id"],
                condition=Q(validate_only=False),
                name="submission_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["submitter", "-received_at", "-id"], name="submission_submitter_recent"),
            models.Index(fields=["register", "status", "received_at"], name="submission_register_status"),
        ]
        # On PostgreSQL one more, created by migration 0016: on (submitter, register, kind), covering the columns the
        # deliveries per deadline read (submissions.daily_overview.delivery_sql), which read it alone.

    def __str__(self) -> str:
        return f"{self.register} {self.kind} {self.message_id} ({self.status})"


class Record(models.Model):
    """The current state of one record the sender identifies by record_id (activity or ident).

    Every change is kept as a RecordVersion; a delete is a version too and leaves
    the record marked deleted. Columns used by the daily view are copied out of
    the data so that aggregation can happen in SQL.
    """

    # The identity key (submitter, register, kind, record_id) starts with the submitter: no separate index.
    submitter = models.ForeignKey(Submitter, on_delete=models.PROTECT, related_name="records", db_index=False)
    register = models.CharField(max_length=3, choices=Register.choices)
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    record_id = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    is_deleted = models.BooleanField(default=False)
    content_hash = models.CharField(max_length=64)
    patient_ref = models.CharField(max_length=100)
    event_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    # KPR service code, NPR contact kind and ICD-10 chapter of the main condition.
    service_code = models.CharField(max_length=8, blank=True)
    contact_kind = models.CharField(max_length=32, blank=True)
    icd_chapter = models.CharField(max_length=8, blank=True)
    data = models.JSONField()
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    last_submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["submitter", "register", "kind", "record_id"], name="record_identity"),
        ]
        indexes = [
            models.Index(
                fields=["submitter", "register", "event_date"],
                name="record_live_by_date",
                condition=Q(is_deleted=False, kind="activity"),
            ),
            models.Index(fields=["last_received_at"], name="record_last_received"),
        ]

    def __str__(self) -> str:
        return f"{self.register}/{self.record_id} v{self.version}"


class RecordVersion(models.Model):
    class Operation(models.TextChoices):
        UPSERT = "upsert", _("Created or changed")
        DELETE = "delete", _("Deleted")

    # The unique key (record, version) starts with the record: no separate index.
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="versions", db_index=False)
    version = models.PositiveIntegerField()
    operation = models.CharField(max_length=16, choices=Operation.choices)
    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="record_versions")
    content_hash = models.CharField(max_length=64)
    data = models.JSONField(null=True)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record", "version"], name="record_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} v{self.version} {self.operation}"


class ApiClient(models.Model):
    """A machine client known to the portal; tokens are verified against its issuer's keys.

    HelseID clients are registered by their client id; local development clients
    (manage.py create_api_client) are signed by the portal's own development issuer.
    """

    name = models.CharField(max_length=200)
    client_id = models.CharField(max_length=200, unique=True)
    org_number = models.CharField(max_length=9)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


# --- Reporting calendar, deadlines and extensions (services in submissions/deadlines.py) ----------------

# The register's own names for the two messages, as the letters and the calendar print them.
MESSAGE_KIND_NAMES = {
    Register.NPR: {MessageKind.ACTIVITY: "ord", MessageKind.IDENT: "ide"},
    Register.KPR: {MessageKind.ACTIVITY: "KPR_IPL", MessageKind.IDENT: "KPR_IDE"},
}

# Which Submitter flag says that it reports to a register.
REGISTER_FLAGS = {Register.NPR: "reports_npr", Register.KPR: "reports_kpr"}


class Deadline(models.Model):
    """One deadline in the registries' published calendar: a register, the kinds of submitters it
    applies to, the period it covers and the messages expected. Registry staff edit it in the portal.

    A deadline applies to a submitter of one of `submitter_kinds` that reports to `register`. The
    deadline ends at the end of `due_date` in Oslo (see `due_at`).
    """

    register = models.CharField(_("register"), max_length=3, choices=Register.choices)
    submitter_kinds = models.JSONField(
        _("applies to"),
        default=list,
        validators=[ChoiceSubsetValidator(Submitter.Kind.values, allow_empty=False)],
    )
    period_start = models.DateField(_("period from"))
    period_end = models.DateField(_("period to"))
    due_date = models.DateField(_("deadline"))
    cumulative = models.BooleanField(
        _("cumulative from 1 January"),
        default=True,
        help_text=_("The files must always contain data from 1 January; a later file replaces an earlier one."),
    )
    message_kinds = models.JSONField(
        _("expected messages"),
        default=list,
        validators=[ChoiceSubsetValidator(MessageKind.values, allow_empty=False)],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_date", "register", "id"]
        verbose_name = _("deadline")
        verbose_name_plural = _("deadlines")
        constraints = [
            models.UniqueConstraint(
                fields=["register", "period_start", "period_end", "due_date"], name="deadline_register_period_due"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="deadline_period_in_order"
            ),
            models.CheckConstraint(condition=Q(due_date__gt=models.F("period_end")), name="deadline_after_period"),
        ]

    def __str__(self) -> str:
        return f"{self.register} {self.period_display} ({self.due_date:%d.%m.%Y})"

    @property
    def year(self) -> int:
        """The reporting year the period belongs to (the annual deadline falls in the next year)."""
        return self.period_start.year

    @property
    def due_at(self) -> datetime.datetime:
        return end_of_day_oslo(self.due_date)

    @property
    def is_annual(self) -> bool:
        year = self.period_start.year
        return (self.period_start, self.period_end) == (datetime.date(year, 1, 1), datetime.date(year, 12, 31))

    @property
    def period_display(self) -> str:
        start, end = self.period_start, self.period_end
        return f"{start.day}.{start.month}.–{end.day}.{end.month}.{end.year}"

    def applies_to(self, submitter: Submitter) -> bool:
        return submitter.kind in self.submitter_kinds and getattr(submitter, REGISTER_FLAGS[self.register])

    def get_submitter_kinds_display(self) -> str:
        return ", ".join(str(Submitter.Kind(kind).label) for kind in self.submitter_kinds)

    def get_message_kinds_display(self) -> str:
        names = MESSAGE_KIND_NAMES.get(self.register, {})
        return ", ".join(
            f"{MessageKind(kind).label} ({names[kind]})" if kind in names else str(MessageKind(kind).label)
            for kind in self.message_kinds
        )

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.period_start and self.period_end:
            if self.period_end < self.period_start:
                errors["period_end"] = _("The period must end on or after its first day.")
            elif self.period_end.year != self.period_start.year:
                errors["period_end"] = _("The period must end in the year it starts.")
            if self.cumulative and (self.period_start.month, self.period_start.day) != (1, 1):
                errors["period_start"] = _("A cumulative period starts on 1 January.")
            if self.due_date and self.due_date <= self.period_end:
                errors["due_date"] = _("The deadline must come after the end of the period.")
        if errors:
            raise ValidationError(errors)
        if self.register and self.period_start and self.period_end:
            # Two deadlines for the same period would give a submitter of both groups two answers.
            same_period = Deadline.objects.filter(
                register=self.register, period_start=self.period_start, period_end=self.period_end
            ).exclude(pk=self.pk)
            for other in same_period:
                shared = set(other.submitter_kinds) & set(self.submitter_kinds or [])
                if shared:
                    raise ValidationError(
                        _("%(kinds)s already have a deadline for this period (%(due)s).")
                        % {
                            "kinds": ", ".join(str(Submitter.Kind(kind).label) for kind in sorted(shared)),
                            "due": f"{other.due_date:%d.%m.%Y}",
                        }
                    )


class Extension(models.Model):
    """A submitter's request for a later deadline for one period, and the registry's decision.

    Rows are never deleted: withdrawal is a status. `previous_date` is the effective deadline when the
    request was made (the old deadline), `granted_date` the new one when granted.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Awaiting decision")
        GRANTED = "granted", _("Granted")
        REFUSED = "refused", _("Refused")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    submitter = models.ForeignKey(
        Submitter, verbose_name=_("submitter"), on_delete=models.PROTECT, related_name="deadline_extensions"
    )
    deadline = models.ForeignKey(
        Deadline, verbose_name=_("deadline"), on_delete=models.PROTECT, related_name="extensions"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    previous_date = models.DateField(_("deadline when applying"))
    requested_date = models.DateField(_("requested deadline"))
    justification = models.TextField(_("justification"))
    applied_late = models.BooleanField(_("applied after the deadline"), default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("applied by"), on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("applied"), default=timezone.now)
    granted_date = models.DateField(_("new deadline"), null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("withdrawn by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    # Claimed by the task that e-mails the decision, so that the e-mail goes once.
    decision_mailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        verbose_name = _("deadline extension")
        verbose_name_plural = _("deadline extensions")
        constraints = [
            models.UniqueConstraint(
                fields=["submitter", "deadline"],
                condition=Q(status="open"),
                name="extension_one_open_per_deadline",
            ),
            models.CheckConstraint(condition=~Q(justification=""), name="extension_has_justification"),
            models.CheckConstraint(
                condition=Q(requested_date__gt=models.F("previous_date")), name="extension_requests_later_date"
            ),
            models.CheckConstraint(
                condition=~Q(status="granted")
                | Q(granted_date__gt=models.F("previous_date"), decided_at__isnull=False),
                name="extension_granted_has_later_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="refused") | (~Q(decision_reason="") & Q(decided_at__isnull=False)),
                name="extension_refused_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "requested_at"], name="extension_queue"),
            models.Index(fields=["submitter", "deadline", "status"], name="extension_submitter_deadline"),
            models.Index(fields=["deadline", "submitter"], condition=Q(status="granted"), name="extension_granted"),
        ]

    def __str__(self) -> str:
        return f"{self.submitter} {self.deadline} → {self.requested_date:%d.%m.%Y} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def new_date(self) -> datetime.date | None:
        return self.granted_date if self.status == self.Status.GRANTED else None


class DeadlineReminder(models.Model):
    """Ledger of reminder e-mails: the row is written (claimed) before the e-mail is sent, and the
    unique key makes a second run of the job on the same day find nothing left to send."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        NO_RECIPIENT = "no_recipient", _("No contact of type 1 with an e-mail address")
        FAILED = "failed", _("Failed")

    deadline = models.ForeignKey(Deadline, on_delete=models.CASCADE, related_name="reminders")
    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="deadline_reminders")
    remind_on = models.DateField()
    days_before = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    claim = models.UUIDField(db_index=True)
    claimed_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    recipient_count = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("deadline reminder")
        verbose_name_plural = _("deadline reminders")
        constraints = [
            models.UniqueConstraint(
                fields=["deadline", "submitter", "remind_on"], name="deadline_reminder_once_per_day"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_date"], name="deadline_reminder_status"),
        ]

    def __str__(self) -> str:
        return f"{self.submitter_id} {self.deadline_id} {self.remind_on} ({self.status})"


# --- The daily view: snapshot of received activity, comments on large changes (submissions/snapshot.py) ---


class SnapshotDimension(models.TextChoices):
    """How received activity is broken down: KPR by service code, NPR by contact kind and by ICD-10 chapter.

    `total` is every live activity record of the month or year, whatever its category (category "").
    """

    TOTAL = "total", _("All")
    SERVICE_CODE = "service_code", _("Service code")
    CONTACT_KIND = "contact_kind", _("Contact kind")
    ICD_CHAPTER = "icd_chapter", _("ICD-10 chapter")


# The breakdowns each register's view shows, in order (the total first).
SNAPSHOT_DIMENSIONS = {
    Register.KPR: (SnapshotDimension.TOTAL, SnapshotDimension.SERVICE_CODE),
    Register.NPR: (SnapshotDimension.TOTAL, SnapshotDimension.CONTACT_KIND, SnapshotDimension.ICD_CHAPTER),
}


class SnapshotMonth(models.Model):
    """Live activity records of one submitter, register, month and category, as of the last snapshot run:
    how many, how many distinct users (patient_ref), and when the first and the last arrived.

    Written only by submissions.snapshot, in bulk SQL.
    """

    # The unique key starts with the submitter: no separate foreign-key index.
    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="+", db_index=False)
    register = models.CharField(max_length=3, choices=Register.choices)
    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    dimension = models.CharField(max_length=16, choices=SnapshotDimension.choices)
    category = models.CharField(max_length=32, blank=True)
    records = models.PositiveIntegerField()
    users = models.PositiveIntegerField()
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submitter", "register", "year", "month", "dimension", "category"],
                name="snapshot_month_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.submitter_id} {self.register} {self.year}-{self.month:02d} {self.dimension}={self.category}"


class SnapshotYear(models.Model):
    """Live activity records and distinct users (patient_ref) of one submitter, register, year and category.

    Distinct users can't be summed over months, so the year keeps them itself, and also from 1 January
    through each month (`users_through_1` … `users_through_12`): comparing January to June with the same
    months last year reads two columns. `users` is the whole year (= users_through_12).
    """

    # The unique key starts with the submitter: no separate foreign-key index.
    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="+", db_index=False)
    register = models.CharField(max_length=3, choices=Register.choices)
    year = models.PositiveSmallIntegerField()
    dimension = models.CharField(max_length=16, choices=SnapshotDimension.choices)
    category = models.CharField(max_length=32, blank=True)
    records = models.PositiveIntegerField()
    users = models.PositiveIntegerField()
    users_through_1 = models.PositiveIntegerField(default=0)
    users_through_2 = models.PositiveIntegerField(default=0)
    users_through_3 = models.PositiveIntegerField(default=0)
    users_through_4 = models.PositiveIntegerField(default=0)
    users_through_5 = models.PositiveIntegerField(default=0)
    users_through_6 = models.PositiveIntegerField(default=0)
    users_through_7 = models.PositiveIntegerField(default=0)
    users_through_8 = models.PositiveIntegerField(default=0)
    users_through_9 = models.PositiveIntegerField(default=0)
    users_through_10 = models.PositiveIntegerField(default=0)
    users_through_11 = models.PositiveIntegerField(default=0)
    users_through_12 = models.PositiveIntegerField(default=0)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submitter", "register", "year", "dimension", "category"], name="snapshot_year_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.submitter_id} {self.register} {self.year} {self.dimension}={self.category}"


class SnapshotRecord(models.Model):
    """The snapshot's copy of each live activity record as it was counted: its aggregation columns only.

    The nightly run compares the records received since the last run with these rows and applies only the
    differences to SnapshotMonth and SnapshotYear, so that its work grows with the day's changes, not with
    the size of the changed submitters. Written only by submissions.snapshot.
    """

    record_id = models.BigIntegerField(primary_key=True)  # Record.id; no constraint: the copy follows the record
    submitter = models.ForeignKey(
        Submitter, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    register = models.CharField(max_length=3)
    year = models.PositiveSmallIntegerField()
    month = models.PositiveSmallIntegerField()
    patient_ref = models.CharField(max_length=100)
    service_code = models.CharField(max_length=8)
    contact_kind = models.CharField(max_length=32)
    icd_chapter = models.CharField(max_length=8)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()

    # Its one index, on (submitter, register, year, patient_ref), is created by migrations 0006, 0012, 0013 and 0015
    # (a full rebuild gives its new copy the same), on PostgreSQL with the categories as further keys and covering
    # the columns the nightly run reads (all but the received times), so that looking up a user's records reads the
    # index only (Django's Index(include=...) would warn on SQLite, models.W040, and build it there without them).

    def __str__(self) -> str:
        return f"{self.record_id} {self.register} {self.year}-{self.month:02d}"


class SnapshotRun(models.Model):
    """One refresh of the snapshot: the nightly incremental run, a full rebuild, or one submitter.

    A global run (nightly or all) reflects every record received up to `as_of`; the next nightly run
    recomputes the submitters with records received after the previous global run's `as_of`, less an overlap
    for transactions that were still open then (see settings.DAILY_VIEW_SNAPSHOT_OVERLAP_MINUTES).
    """

    class Scope(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly, changes only")
        ALL = "all", _("Everything")
        SUBMITTER = "submitter", _("One submitter")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    scope = models.CharField(max_length=16, choices=Scope.choices)
    submitter = models.ForeignKey(Submitter, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Records received after this were looked at (None: everything, a full rebuild).
    changes_since = models.DateTimeField(null=True, blank=True)
    # Everything received up to here is in the snapshot once the run is done.
    as_of = models.DateTimeField(null=True, blank=True)
    units = models.PositiveIntegerField(default=0)  # (submitter, register, year) units recomputed
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["status", "scope", "-as_of"], name="snapshot_run_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.status} {self.requested_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> datetime.timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class SnapshotDelivery(models.Model):
    """Each expected submitter's delivery for one deadline, as of the last snapshot run: when the accepted
    messages were all in (or never), the effective deadline, and the on-time status. Registry staff's overview
    counts these rows, so that it never scans the submissions (60,000 submitters sending every day).

    Written only by submissions.snapshot, in bulk SQL (the rule: submissions.daily_overview.delivery_sql).
    """

    deadline = models.ForeignKey(Deadline, on_delete=models.CASCADE, related_name="+", db_index=False)
    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="+", db_index=False)
    delivered_at = models.DateTimeField(null=True)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deadline", "submitter"], name="snapshot_delivery_key"),
        ]
        indexes = [
            models.Index(fields=["submitter"], name="snapshot_delivery_submitter"),
            # Counting a deadline's statuses (for the submitters a filter selects) reads this index only.
            models.Index(fields=["deadline", "status", "submitter"], name="snapshot_delivery_status"),
        ]

    def __str__(self) -> str:
        return f"{self.deadline_id} {self.submitter_id} {self.status}"


class ChangeComment(models.Model):
    """A submitter's explanation of a large change against last year in one category.

    Append-only: an edit is a new row, so the history (who wrote what, when) is kept; the newest row
    for a submitter, register, year and category is the comment shown.
    """

    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="change_comments", db_index=False)
    register = models.CharField(_("register"), max_length=3, choices=Register.choices)
    year = models.PositiveSmallIntegerField(_("year"))
    dimension = models.CharField(max_length=16, choices=SnapshotDimension.choices)
    category = models.CharField(_("category"), max_length=32)
    text = models.TextField(_("comment"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The numbers the author saw when writing (users this year and last year, same period).
    users = models.PositiveIntegerField(null=True, blank=True)
    previous_users = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("comment on a change")
        verbose_name_plural = _("comments on changes")
        indexes = [
            models.Index(
                fields=["submitter", "register", "year", "dimension", "category", "-created_at"],
                name="change_comment_latest",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="change_comment_has_text"),
        ]

    def __str__(self) -> str:
        return f"{self.submitter_id} {self.register} {self.year} {self.dimension}={self.category}"
