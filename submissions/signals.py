"""Signals intake sends so that other apps (feedback) can react without intake importing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction that stored a submission commits. Arguments: submission_id.
submission_received = Signal()
