"""Template filters for the daily view's comment forms."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def rejected_for(rejected_comment: dict | None, category_key: str) -> dict | None:
    """The refused comment if it was written for this category's line (its text and errors), else None."""
    if rejected_comment and rejected_comment.get("key") == category_key:
        return rejected_comment
    return None
