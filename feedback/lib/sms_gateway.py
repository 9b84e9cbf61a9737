"""A client for an HTTP SMS gateway: JSON over HTTPS, a bearer key, timeouts, bounded retries with backoff.

The request carries the caller's reference as an `Idempotency-Key` header and in the body, so a gateway
that deduplicates on it delivers a retried message once. The key and the text never go into the URL.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class SmsGatewayError(Exception):
    """The gateway did not accept the message."""


class SmsRejected(SmsGatewayError):
    """The gateway refused the message (4xx): retrying the same request will not help."""


class SmsTemporaryError(SmsGatewayError):
    """The gateway failed, timed out or could not be reached, on every attempt."""


@dataclass
class SmsGatewayClient:
    url: str
    api_key: str
    sender: str = "FHI"
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("The SMS gateway URL must be an http(s) URL.")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def send(self, *, to: str, text: str, reference: str) -> str:
        """Send one SMS; returns the gateway's message id (or the reference when it gives none)."""
        body = json.dumps({"to": to, "text": text, "sender": self.sender, "reference": reference}).encode()
        last_error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._post(body, reference)
            except SmsRejected:
                raise
            except SmsTemporaryError as error:
                last_error = error
            if attempt < self.attempts:
                self.sleep(self._delay(attempt))
        raise SmsTemporaryError(f"SMS gateway failed {self.attempts} times: {last_error}") from last_error

    def _delay(self, attempt: int) -> float:
        # Exponential backoff with full jitter, so that retries from many workers spread out.
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def _post(self, body: bytes, reference: str) -> str:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __post_init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Idempotency-Key": reference,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310
                payload = response.read(64 * 1024)
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
            if status in RETRY_STATUSES:
                raise SmsTemporaryError(f"HTTP {status}") from None
            raise SmsRejected(f"HTTP {status}") from None
        except TimeoutError as error:
            raise SmsTemporaryError(f"timed out after {self.timeout} s") from error
        except urllib.error.URLError as error:
            raise SmsTemporaryError(f"unreachable: {error.reason}") from error
        except OSError as error:
            raise SmsTemporaryError(f"connection failed: {error}") from error
        try:
            data = json.loads(payload or b"{}")
        except ValueError:
            data = {}
        message_id = data.get("id") if isinstance(data, dict) else None
        return str(message_id) if message_id else reference
