"""Reads for what arrived, scoped through portal.access."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from portal import access
from portal.models import Submitter
from submissions.models import Submission

SUBMISSION_LIST_FIELDS = [
    "id",
    "submitter_id",
    "message_id",
    "register",
    "kind",
    "mode",
    "channel",
    "status",
    "validate_only",
    "received_at",
    "period_start",
    "period_end",
    "count_received",
    "count_created",
    "count_updated",
    "count_deleted",
    "count_unchanged",
    "count_invalid",
    "count_errors",
    "count_warnings",
]


def submission_list(*, submitter: Submitter) -> QuerySet[Submission]:
    """A submitter's submissions, newest first; the caller got the submitter from portal.access."""
    return submitter.submissions.only(*SUBMISSION_LIST_FIELDS).order_by("-received_at", "-id")


def get_submission_or_404(user: Any, submitter_id: int, submission_id: int) -> tuple[Submitter, Submission]:
    submitter = access.get_submitter_or_404(user, submitter_id)
    try:
        return submitter, submitter.submissions.get(pk=submission_id)
    except Submission.DoesNotExist:
        raise access.refused(user, "submission", submission_id, submitter_id=submitter.pk) from None
