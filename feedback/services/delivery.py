"""Delivering feedback: the archive by e-mail to each routed contact, the month's password by SMS.

E-mail is at least once: a delivery is claimed with a lease, and a claim whose worker died is tried again.
SMS is once per contact and month: the outbox row exists before anything is sent, PENDING → SENDING is a
claim only one worker wins, and a row whose worker died while sending is retried (same reference) only when
the backend deduplicates on the reference; otherwise it is marked uncertain for staff.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format

from feedback.models import EmailDelivery, MonthlyPassword, SmsOutbox
from feedback.services import queue
from feedback.services.content import LANGUAGE
from feedback.services.passwords import PasswordUnavailable, month_of, monthly_password_reveal
from feedback.services.reports import queued_until
from feedback.sms import Sms, get_backend
from feedback.sms.backends.base import SmsRejected, SmsTemporaryError
from portal import access
from portal.models import ContactPerson, Submitter
from portal.readiness import FeedbackKind, can_open_feedback

logger = logging.getLogger(__name__)

EMAIL_MAX_ATTEMPTS = 6
SMS_MAX_ATTEMPTS = 5
RESENDS_PER_USER_PER_HOUR = 20


def _lease(now: datetime.datetime) -> datetime.datetime:
    return now + datetime.timedelta(seconds=settings.FEEDBACK_LEASE_SECONDS)


def month_label(month: datetime.date) -> str:
    with translation.override(LANGUAGE):
        return date_format(month, "YEAR_MONTH_FORMAT").lower()


# -- e-mail --------------------------------------------------------------------------------------


def email_send(*, delivery_id: int, now: datetime.datetime | None = None) -> bool:
    """Send one archive to one address. Returns True when this call sent it."""
    now = now or timezone.now()
    claimable = Q(status=EmailDelivery.Status.PENDING) | Q(status=EmailDelivery.Status.SENDING, lease_until__lt=now)
    claimed = EmailDelivery.objects.filter(claimable, pk=delivery_id, attempts__lt=EMAIL_MAX_ATTEMPTS).update(
        status=EmailDelivery.Status.SENDING, lease_until=_lease(now), attempts=F("attempts") + 1
    )
    if claimed != 1:
        return False
    delivery = EmailDelivery.objects.select_related("report__submitter").get(pk=delivery_id)
    report = delivery.report
    try:
        with default_storage.open(report.file.name, "rb") as archive:
            data = archive.read()
        with translation.override(LANGUAGE):
            context = {
                "report": report,
                "submitter": report.submitter,
                "kind_label": FeedbackKind(report.kind).label,
                "month_label": month_label(report.password_month),
                "registry_email": {"KPR": "kpr@fhi.no"}.get(report.register, "npr@fhi.no"),
            }
            subject = " ".join(render_to_string("feedback/email/feedback_subject.txt", context).split())
            body = render_to_string("feedback/email/feedback_body.txt", context)
        message = EmailMessage(subject=subject, body=body, to=[delivery.email])
        message.attach(report.file_name, data, "application/zip")
        message.send()
    except Exception as error:
        attempts = delivery.attempts
        EmailDelivery.objects.filter(pk=delivery_id, status=EmailDelivery.Status.SENDING).update(
            status=EmailDelivery.Status.FAILED if attempts >= EMAIL_MAX_ATTEMPTS else EmailDelivery.Status.PENDING,
            lease_until=None,
            error=f"{type(error).__name__}: {error}"[:1000],
        )
        raise
    EmailDelivery.objects.filter(pk=delivery_id).update(
        status=EmailDelivery.Status.SENT, sent_at=timezone.now(), lease_until=None, error=""
    )
    return True


# -- SMS -----------------------------------------------------------------------------------------


def sms_text(*, password: str, month: datetime.date, org_number: str) -> str:
    with translation.override(LANGUAGE):
        context = {"password": password, "month_label": month_label(month), "org_number": org_number}
        return render_to_string("feedback/sms/password.txt", context).strip()


def sms_send(*, outbox_id: int, now: datetime.datetime | None = None, backend=None) -> bool:
    """Send one outbox row's SMS. Returns True when this call handed it to the backend successfully."""
    now = now or timezone.now()
    claimed = SmsOutbox.objects.filter(pk=outbox_id, status=SmsOutbox.Status.PENDING).update(
        status=SmsOutbox.Status.SENDING, claimed_at=now, lease_until=_lease(now), attempts=F("attempts") + 1
    )
    if claimed != 1:
        return False
    row = SmsOutbox.objects.select_related("submitter").get(pk=outbox_id)
    try:
        secret = MonthlyPassword.objects.get(submitter_id=row.submitter_id, month=row.month)
        text = sms_text(password=monthly_password_reveal(secret), month=row.month, org_number=row.submitter.org_number)
    except (MonthlyPassword.DoesNotExist, PasswordUnavailable):
        SmsOutbox.objects.filter(pk=outbox_id).update(status=SmsOutbox.Status.EXPIRED, lease_until=None)
        return False
    backend = backend or get_backend()
    try:
        gateway_id = backend.send(Sms(to=row.mobile, text=text, reference=row.reference))
    except SmsRejected as error:
        _sms_failed(row, SmsOutbox.Status.FAILED, error)
        return False
    except SmsTemporaryError as error:
        final = row.attempts >= SMS_MAX_ATTEMPTS
        _sms_failed(row, SmsOutbox.Status.FAILED if final else SmsOutbox.Status.PENDING, error)
        if final:
            return False
        raise
    SmsOutbox.objects.filter(pk=outbox_id, status=SmsOutbox.Status.SENDING).update(
        status=SmsOutbox.Status.SENT, sent_at=timezone.now(), gateway_id=gateway_id[:100], lease_until=None, error=""
    )
    return True


def _sms_failed(row: SmsOutbox, status: str, error: Exception) -> None:
    # The error text comes from the gateway client, which never includes the message text.
    SmsOutbox.objects.filter(pk=row.pk, status=SmsOutbox.Status.SENDING).update(
        status=status, lease_until=None, error=f"{type(error).__name__}: {error}"[:1000]
    )
    logger.warning("SMS outbox %s: %s (%s)", row.pk, status, type(error).__name__)


class ResendRefused(Exception):
    """Why a password could not be sent again (a message for the staff member)."""


def password_resend(
    *, user, submitter: Submitter, contact: ContactPerson, now: datetime.datetime | None = None
) -> SmsOutbox:
    """Registry staff send this month's password again to one contact; the row records who asked.
    At most once per submitter every FEEDBACK_PASSWORD_RESEND_INTERVAL seconds, and a bounded number
    per staff member per hour."""
    if not access.is_registry_staff(user):
        raise PermissionDenied("Only registry staff send passwords again.")
    if contact.submitter_id != submitter.pk or not can_open_feedback(contact):
        raise ResendRefused("contact")
    now = now or timezone.now()
    month = month_of(now)
    password = MonthlyPassword.objects.filter(submitter=submitter, month=month, erased_at__isnull=True).first()
    if password is None:
        raise ResendRefused("no_password")
    recent = now - datetime.timedelta(seconds=settings.FEEDBACK_PASSWORD_RESEND_INTERVAL)
    with transaction.atomic():
        # Serialise resends per submitter, so that two clicks at once cannot both pass the rate limit.
        Submitter.objects.select_for_update().only("id").get(pk=submitter.pk)
        if SmsOutbox.objects.filter(submitter=submitter, round__gt=0, created_at__gte=recent).exists():
            raise ResendRefused("rate_submitter")
        hour_ago = now - datetime.timedelta(hours=1)
        if SmsOutbox.objects.filter(requested_by=user, created_at__gte=hour_ago).count() >= RESENDS_PER_USER_PER_HOUR:
            raise ResendRefused("rate_user")
        last = SmsOutbox.objects.filter(contact=contact, month=month).aggregate(last=Max("round"))["last"]
        try:
            with transaction.atomic():
                row = SmsOutbox.objects.create(
                    submitter=submitter,
                    contact=contact,
                    month=month,
                    round=(last or 0) + 1,
                    contact_name=contact.name,
                    mobile=contact.mobile,
                    requested_by=user,
                    lease_until=queued_until(now),
                )
        except IntegrityError:
            raise ResendRefused("rate_submitter") from None
        queue.on_commit_deliver(sms_ids=[row.pk])
    logger.info("Password resend for submitter %s, contact %s, asked by user %s", submitter.pk, contact.pk, user.pk)
    return row
