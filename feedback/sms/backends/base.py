from __future__ import annotations

from feedback.lib.sms_gateway import SmsGatewayError, SmsRejected, SmsTemporaryError

__all__ = ["BaseSmsBackend", "SmsGatewayError", "SmsRejected", "SmsTemporaryError"]


class BaseSmsBackend:
    # True when sending the same reference twice delivers one SMS (the backend or gateway deduplicates).
    deduplicates = False

    def __init__(self, **options: object) -> None:
        self.options = options

    def send(self, sms) -> str:
        """Send one SMS; return the gateway's id. Raise SmsTemporaryError (retry later) or SmsRejected."""
        raise NotImplementedError
