"""A logging filter that masks national identity numbers and JWTs in every record, whoever logged it.

Defence in depth: the code must not log them in the first place (tests/test_no_secrets_in_logs.py
checks the main flows), but a third-party library's debug message or an exception's text may.
Framework-free, as logging is configured before Django loads the apps.
"""

from __future__ import annotations

import logging

from portal.lib.redact import needs_redaction, redact


class RedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if needs_redaction(message):
            record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None and needs_redaction(str(record.exc_info[1])):
            # The traceback would repeat the value: keep the exception's type, drop its text.
            record.exc_text = f"{type(record.exc_info[1]).__name__}: [message removed]"
            record.exc_info = None
        return True
