"""SMS through a pluggable backend, like Django's e-mail backends (settings.FEEDBACK_SMS_BACKEND).

- console: prints the SMS (development);
- database: stores it in StoredSms, one row per reference (development and tests);
- http: an SMS gateway over HTTPS (production), see feedback.lib.sms_gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Sms:
    to: str  # E.164
    text: str
    reference: str  # stable per outbox row: the gateway's idempotency key

    def __repr__(self) -> str:
        # The text holds a password: never in a repr, a log line or a traceback.
        return f"Sms(to={self.to!r}, reference={self.reference!r})"


def get_backend(backend: str | None = None, **options: Any):
    return import_string(backend or settings.FEEDBACK_SMS_BACKEND)(**options)
