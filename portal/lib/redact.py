"""Masking what must never be stored or logged: national identity numbers and tokens (JWTs)."""

from __future__ import annotations

import re

# Eleven digits not part of a longer number: a fødselsnummer or D-number (or something that looks like one).
IDENTITY_NUMBER = re.compile(r"(?<!\d)\d{11}(?!\d)")
# A compact JWS/JWT: base64url header starting with '{"' (eyJ), payload, and signature.
JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.?[A-Za-z0-9_-]*")


def redact(text: str) -> str:
    return IDENTITY_NUMBER.sub("[number removed]", JWT_LIKE.sub("[token removed]", text))


def needs_redaction(text: str) -> bool:
    return bool(IDENTITY_NUMBER.search(text) or JWT_LIKE.search(text))
