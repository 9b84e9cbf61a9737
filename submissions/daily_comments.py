"""Writing a submitter's comment on a large change (the daily view). Append-only: an edit is a new row."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from portal import access
from portal.models import Submitter
from submissions.daily_view import Category, daily_view
from submissions.models import ChangeComment, SnapshotDimension


def change_comment_add(
    *,
    user: Any,
    submitter: Submitter,
    register: str,
    year: int,
    category: str,
    text: str,
    today: datetime.date | None = None,
) -> ChangeComment:
    """A member explains a change the daily view flags as large. The numbers shown are kept with it."""
    if not access.can_comment(user, submitter):
        raise PermissionDenied("Only people who act for the submitter comment on its changes.")
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write what caused the change.")})
    parsed = Category.parse(category, register)
    if parsed is None or parsed.dimension == SnapshotDimension.TOTAL:
        raise ValidationError(_("Choose a category to comment on."))
    view = daily_view(submitter=submitter, register=register, year=year, today=today, details=False)
    if view.register != register or view.year != year:
        raise ValidationError(_("Choose a category to comment on."))
    line = next((line for breakdown in view.breakdowns for line in breakdown.lines if line.category == parsed), None)
    if line is None or not line.flag:
        raise ValidationError(_("Only large changes against last year are explained here."))
    return ChangeComment.objects.create(
        submitter=submitter,
        register=register,
        year=year,
        dimension=parsed.dimension,
        category=parsed.code,
        text=text,
        author=user,
        created_at=timezone.now(),
        users=line.current.users,
        previous_users=line.previous.users,
    )
