"""Development: print the SMS to standard output (not the log), so that the demo's archives can be opened."""

from __future__ import annotations

import sys
import threading

from feedback.sms.backends.base import BaseSmsBackend


class SmsBackend(BaseSmsBackend):
    _lock = threading.Lock()

    def __init__(self, stream=None, **options: object) -> None:
        super().__init__(**options)
        self.stream = stream or sys.stdout

    def send(self, sms) -> str:
        with self._lock:
            self.stream.write(f"SMS to {sms.to} [{sms.reference}]\n{sms.text}\n{'-' * 40}\n")
            self.stream.flush()
        return sms.reference
