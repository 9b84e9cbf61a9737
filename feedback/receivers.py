"""Intake tells feedback about a received message through a signal; intake never imports feedback."""

from __future__ import annotations

import logging

from feedback import services

logger = logging.getLogger(__name__)


def on_submission_received(sender: object, submission_id: int, **kwargs: object) -> None:
    # Sent after intake's commit, inside the request: a failure here must not turn a stored message into
    # an error for the sender. The submission is stored; the failure is logged.
    try:
        services.feedback_for_submission(submission_id=submission_id)
    except Exception:
        logger.exception("Could not ask for feedback for submission %s", submission_id)
