"""Monthly passwords: one per submitter per calendar month in Oslo, encrypted at rest, erased after the month."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from feedback.lib.passwords import generate_password
from feedback.models import MonthlyPassword, SmsOutbox
from submissions.workdays import OSLO


class PasswordUnavailable(Exception):
    """The month's password was erased (the month is over) or never made."""


def month_of(moment: datetime.datetime | datetime.date | None = None) -> datetime.date:
    """The first day of the month in Oslo that `moment` (default: now) falls in."""
    if moment is None:
        moment = timezone.now()
    if isinstance(moment, datetime.datetime):
        moment = moment.astimezone(OSLO).date()
    return moment.replace(day=1)


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.strip()) for key in settings.FEEDBACK_PASSWORD_KEY.split(",")])


def monthly_password_get_or_create(*, submitter_id: int, month: datetime.date) -> tuple[MonthlyPassword, str]:
    """The submitter's password for `month`, made on first use. Two workers asking at once get the same one:
    the unique key lets one insert through, and the other reads it."""
    if month.day != 1:
        raise ValueError("month must be the first day of a month")
    existing = MonthlyPassword.objects.filter(submitter_id=submitter_id, month=month).first()
    if existing is None:
        candidate = MonthlyPassword(
            submitter_id=submitter_id, month=month, secret=_fernet().encrypt(generate_password().encode())
        )
        with transaction.atomic():
            MonthlyPassword.objects.bulk_create([candidate], ignore_conflicts=True)
        existing = MonthlyPassword.objects.get(submitter_id=submitter_id, month=month)
    return existing, monthly_password_reveal(existing)


def monthly_passwords_get_or_create(*, submitter_ids: Iterable[int], month: datetime.date) -> dict[int, str]:
    """monthly_password_get_or_create for many submitters at once (a chunk of archives): the existing
    passwords read in one query, the missing ones inserted in one statement (a concurrent insert wins, as
    there), and read back. Returns each submitter's password."""
    if month.day != 1:
        raise ValueError("month must be the first day of a month")
    wanted = set(submitter_ids)
    rows = {row.submitter_id: row for row in MonthlyPassword.objects.filter(submitter_id__in=wanted, month=month)}
    missing = wanted - rows.keys()
    if missing:
        fernet = _fernet()
        candidates = [
            MonthlyPassword(submitter_id=pk, month=month, secret=fernet.encrypt(generate_password().encode()))
            for pk in sorted(missing)
        ]
        with transaction.atomic():
            MonthlyPassword.objects.bulk_create(candidates, ignore_conflicts=True)
        rows |= {row.submitter_id: row for row in MonthlyPassword.objects.filter(submitter_id__in=missing, month=month)}
    return {pk: monthly_password_reveal(row) for pk, row in rows.items()}


def monthly_password_reveal(password: MonthlyPassword) -> str:
    if password.erased_at is not None or not password.secret:
        raise PasswordUnavailable(f"The password for {password.month:%Y-%m} is no longer kept.")
    try:
        return _fernet().decrypt(bytes(password.secret)).decode()
    except InvalidToken:
        raise PasswordUnavailable("The password cannot be decrypted with FEEDBACK_PASSWORD_KEY.") from None


def passwords_erase_past(*, now: datetime.datetime | None = None) -> int:
    """Erase the secrets of months that are over (in Oslo); the rows stay. SMS still waiting for an erased
    month can no longer be sent: they expire. Returns the number of passwords erased."""
    now = now or timezone.now()
    current = month_of(now)
    with transaction.atomic():
        erased = MonthlyPassword.objects.filter(month__lt=current, erased_at__isnull=True).update(
            secret=b"", erased_at=now
        )
        SmsOutbox.objects.filter(month__lt=current, status=SmsOutbox.Status.PENDING).update(
            status=SmsOutbox.Status.EXPIRED, lease_until=None
        )
    return erased
