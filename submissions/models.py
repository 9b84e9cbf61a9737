"""What arrived: submissions (one per message), records with their versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.models import Register, Submitter


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

    def __str__(self) -> str:
        return f"{self.register} {self.kind} {self.message_id} ({self.status})"


class Record(models.Model):
    """The current state of one record the sender identifies by record_id (activity or ident).

    Every change is kept as a RecordVersion; a delete is a version too and leaves
    the record marked deleted. Columns used by the daily view are copied out of
    the data so that aggregation can happen in SQL.
    """

    submitter = models.ForeignKey(Submitter, on_delete=models.PROTECT, related_name="records")
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

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="versions")
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
