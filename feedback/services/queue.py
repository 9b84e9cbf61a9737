"""Enqueueing feedback tasks after the commit, on settings.FEEDBACK_TASK_QUEUE (default: Celery's default)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import transaction


def _options() -> dict[str, str]:
    return {"queue": settings.FEEDBACK_TASK_QUEUE} if settings.FEEDBACK_TASK_QUEUE else {}


def send(task_name: str, *args: object) -> None:
    from feedback import tasks

    getattr(tasks, task_name).apply_async(args=args, **_options())


def _send_all(task_name: str, ids: Sequence[int]) -> None:
    for pk in ids:
        send(task_name, pk)


def _send_chunks(report_ids: Sequence[int]) -> None:
    size = settings.FEEDBACK_PRODUCE_CHUNK
    for start in range(0, len(report_ids), size):
        send("produce_reports", list(report_ids[start : start + size]))


def _on_commit(func: Callable[..., None], *args: object) -> None:
    """func(*args) once the transaction commits, robust: the rows are committed either way, so a broker that
    fails here leaves them to the sweep. Not a functools.partial: Django names a failed robust callback by
    its __qualname__, which a partial lacks, and that AttributeError would escape after the commit (and a
    caller cleaning up after an error would undo committed work)."""

    def callback() -> None:
        func(*args)

    callback.__qualname__ = func.__qualname__
    transaction.on_commit(callback, robust=True)


def on_commit_produce(report_ids: Sequence[int]) -> None:
    """One task per report, or, when many are asked for at once (the daily job after a deadline), one task
    per chunk of reports: a task's own costs (the broker, the claim, the commits) are then paid per chunk."""
    if len(report_ids) == 1:
        _on_commit(_send_all, "produce_report", list(report_ids))
    elif report_ids:
        _on_commit(_send_chunks, list(report_ids))


def on_commit_deliver(*, email_ids: Sequence[int] = (), sms_ids: Sequence[int] = ()) -> None:
    if email_ids:
        _on_commit(_send_all, "send_report_email", list(email_ids))
    if sms_ids:
        _on_commit(_send_all, "send_password_sms", list(sms_ids))
