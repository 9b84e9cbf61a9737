from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from portal.models import Heartbeat


@shared_task(name="portal.tasks.heartbeat", ignore_result=True, soft_time_limit=10, time_limit=20)
def heartbeat(name: str = "worker") -> None:
    """Beat sends this every few minutes; the health page shows when a worker last ran it."""
    Heartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
