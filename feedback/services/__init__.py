"""Writes for feedback (keyword-only services): asking for and producing reports, delivering them,
monthly passwords, and the sweep that hands out work left behind by a dead worker."""

from __future__ import annotations

from feedback.services.delivery import ResendRefused, email_send, password_resend, sms_send, sms_text
from feedback.services.passwords import (
    PasswordUnavailable,
    month_of,
    monthly_password_get_or_create,
    monthly_password_reveal,
    monthly_passwords_get_or_create,
    passwords_erase_past,
)
from feedback.services.reports import (
    activity_due,
    activity_request,
    feedback_for_submission,
    report_produce,
    reports_produce,
)
from feedback.services.sweep import SweepResult, orphan_archives_delete, sweep

__all__ = [
    "PasswordUnavailable",
    "ResendRefused",
    "SweepResult",
    "activity_due",
    "activity_request",
    "email_send",
    "feedback_for_submission",
    "month_of",
    "monthly_password_get_or_create",
    "monthly_password_reveal",
    "monthly_passwords_get_or_create",
    "orphan_archives_delete",
    "password_resend",
    "passwords_erase_past",
    "report_produce",
    "reports_produce",
    "sms_send",
    "sms_text",
    "sweep",
]
