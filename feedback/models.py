"""What goes back: feedback reports (encrypted archives), monthly passwords, e-mail deliveries, the SMS outbox.

Every side effect that must happen once has a row written before it happens: a report is claimed before it
is produced, an e-mail delivery before it is sent, an SMS outbox row (unique per contact and month) before
the SMS leaves.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from portal.models import ContactPerson, Register, Submitter
from portal.readiness import FeedbackKind
from submissions.models import Submission


class MonthlyPassword(models.Model):
    """One password per submitter per calendar month (Europe/Oslo) for all of its feedback that month.

    The secret is Fernet-encrypted with settings.FEEDBACK_PASSWORD_KEY and erased when the month is over;
    the row stays, so that it is known a password existed and when it was erased.
    """

    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="monthly_passwords")
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    secret = models.BinaryField(blank=True, default=b"", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("monthly password")
        verbose_name_plural = _("monthly passwords")
        constraints = [
            models.UniqueConstraint(fields=["submitter", "month"], name="monthly_password_once"),
            models.CheckConstraint(condition=Q(month__day=1), name="monthly_password_first_of_month"),
        ]
        indexes = [models.Index(fields=["month"], name="monthly_password_month", condition=Q(erased_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.submitter_id} {self.month:%Y-%m}"

    def __repr__(self) -> str:
        # Never the secret, not even encrypted.
        return f"<MonthlyPassword {self.pk} submitter={self.submitter_id} month={self.month:%Y-%m}>"


class FeedbackReport(models.Model):
    """One feedback: an encrypted archive for one submitter, produced once, then e-mailed and downloadable."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        PRODUCING = "producing", _("Being produced")
        PRODUCED = "produced", _("Produced")
        FAILED = "failed", _("Failed")

    class Trigger(models.TextChoices):
        SUBMISSION = "submission", _("On receipt of a message")
        DEADLINE = "deadline", _("After the deadline")
        STAFF = "staff", _("Requested by registry staff")

    submitter = models.ForeignKey(Submitter, on_delete=models.PROTECT, related_name="feedback_reports")
    kind = models.CharField(_("kind"), max_length=32, choices=FeedbackKind.choices)
    register = models.CharField(_("register"), max_length=3, choices=Register.choices, blank=True)
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    submission = models.ForeignKey(
        Submission, null=True, blank=True, on_delete=models.PROTECT, related_name="feedback_reports"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    # What makes a report the same report when a signal, the beat job or a retry asks for it again.
    key = models.CharField(max_length=120, unique=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    claim = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    produced_at = models.DateTimeField(_("produced"), null=True, blank=True)
    file = models.FileField(upload_to="feedback", max_length=255, blank=True)
    file_name = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    # The month whose password opens the archive.
    password_month = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("feedback report")
        verbose_name_plural = _("feedback reports")
        indexes = [
            models.Index(fields=["submitter", "-created_at", "-id"], name="feedback_report_submitter"),
            models.Index(
                fields=["status", "lease_until"],
                name="feedback_report_unfinished",
                condition=Q(status__in=["pending", "producing"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.submitter_id} ({self.status})"

    @property
    def period_label(self) -> str:
        if self.period_start and self.period_end:
            start, end = self.period_start, self.period_end
            return f"{start.day}.{start.month}.–{end.day}.{end.month}.{end.year}"
        if self.year:
            return str(self.year)
        return ""


class EmailDelivery(models.Model):
    """The archive e-mailed to one contact. At least once: a claim whose lease ran out is tried again."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    report = models.ForeignKey(FeedbackReport, on_delete=models.CASCADE, related_name="email_deliveries")
    contact = models.ForeignKey(ContactPerson, null=True, on_delete=models.SET_NULL, related_name="+")
    contact_name = models.CharField(max_length=200)
    email = models.EmailField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contact_name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["report", "email"], name="email_delivery_once_per_address"),
        ]
        indexes = [
            models.Index(
                fields=["status", "lease_until"],
                name="email_delivery_unfinished",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.report_id} → {self.email} ({self.status})"


class SmsOutbox(models.Model):
    """The month's password for one contact. Written before the SMS leaves; (contact, month, round) is unique,
    so the monthly SMS (round 0) exists once, and a staff resend is a new round with who asked.

    PENDING → SENDING is a claim (filter().update() == 1); a claimed row is sent by its claimant only. If a
    worker dies while the row is SENDING, the row is retried with the same reference only when the backend
    deduplicates on it (the gateway delivers it once); otherwise it becomes UNCERTAIN for staff to check.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        UNCERTAIN = "uncertain", _("Unknown whether sent")
        EXPIRED = "expired", _("Not sent: the month is over")

    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(ContactPerson, on_delete=models.CASCADE, related_name="+")
    month = models.DateField()
    round = models.PositiveSmallIntegerField(default=0)
    contact_name = models.CharField(max_length=200)
    mobile = models.CharField(max_length=16)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    gateway_id = models.CharField(max_length=100, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-month", "contact_name", "round", "id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "month", "round"], name="sms_outbox_once_per_contact_month"),
            models.CheckConstraint(condition=Q(round=0) | Q(requested_by__isnull=False), name="sms_resend_has_asker"),
        ]
        indexes = [
            models.Index(fields=["submitter", "month"], name="sms_outbox_submitter_month"),
            models.Index(
                fields=["status", "lease_until"],
                name="sms_outbox_unfinished",
                condition=Q(status__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.month:%Y-%m} #{self.round} ({self.status})"

    @property
    def reference(self) -> str:
        """Stable per row: the gateway's idempotency key."""
        return f"pw-{self.contact_id}-{self.month:%Y%m}-{self.round}"

    @property
    def month_end(self) -> datetime.date:
        return (self.month + datetime.timedelta(days=32)).replace(day=1)


class StoredSms(models.Model):
    """The database SMS backend's "sent" messages (development and tests), unique per reference like a
    gateway that deduplicates. Holds the text, so it is never used in production."""

    reference = models.CharField(max_length=100, unique=True)
    to = models.CharField(max_length=16)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    duplicates = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.reference} → {self.to}"


class FeedbackDownload(models.Model):
    """Who downloaded which feedback, when (the access log Normen asks for)."""

    report = models.ForeignKey(FeedbackReport, on_delete=models.CASCADE, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    downloaded_at = models.DateTimeField(auto_now_add=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-downloaded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.username} {self.report_id} {self.downloaded_at:%Y-%m-%d %H:%M}"
