"""Development and tests: "send" by storing the SMS in the database, once per reference.

Like a gateway that deduplicates on the idempotency key: a second send of one reference is counted, not
stored. Works across processes (the worker in tests writes, the test reads). Keeps the text: never in
production.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from feedback.sms.backends.base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    deduplicates = True

    def send(self, sms) -> str:
        from feedback.models import StoredSms

        try:
            with transaction.atomic():
                stored = StoredSms.objects.create(reference=sms.reference, to=sms.to, text=sms.text)
        except IntegrityError:
            StoredSms.objects.filter(reference=sms.reference).update(duplicates=F("duplicates") + 1)
            return sms.reference
        return str(stored.pk)
