"""Production: an HTTP SMS gateway (URL and key from settings), with timeouts and bounded retries."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from feedback.lib.sms_gateway import SmsGatewayClient
from feedback.sms.backends.base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    def __init__(self, client: SmsGatewayClient | None = None, **options: object) -> None:
        super().__init__(**options)
        if client is None:
            if not settings.FEEDBACK_SMS_GATEWAY_URL or not settings.FEEDBACK_SMS_GATEWAY_KEY:
                raise ImproperlyConfigured(
                    "FEEDBACK_SMS_GATEWAY_URL and FEEDBACK_SMS_GATEWAY_KEY must be set for the HTTP SMS backend."
                )
            client = SmsGatewayClient(
                url=settings.FEEDBACK_SMS_GATEWAY_URL,
                api_key=settings.FEEDBACK_SMS_GATEWAY_KEY,
                sender=settings.FEEDBACK_SMS_SENDER,
                timeout=settings.FEEDBACK_SMS_TIMEOUT,
                attempts=settings.FEEDBACK_SMS_ATTEMPTS,
            )
        self.client = client
        self.deduplicates = settings.FEEDBACK_SMS_GATEWAY_DEDUPLICATES

    def send(self, sms) -> str:
        return self.client.send(to=sms.to, text=sms.text, reference=sms.reference)
