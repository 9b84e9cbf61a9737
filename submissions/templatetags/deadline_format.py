"""Dates and times the way the registries write them: "10. mai 2025 kl. 23.59", always in Oslo time."""

from __future__ import annotations

import datetime

from django import template
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from submissions.workdays import OSLO, end_of_day_oslo

register = template.Library()


@register.filter
def oslo_datetime(value: datetime.datetime | datetime.date | None) -> str:
    """A moment in Oslo time; a date stands for its deadline, the end of that day."""
    if value is None:
        return ""
    if not isinstance(value, datetime.datetime):
        value = end_of_day_oslo(value)
    local = value.astimezone(OSLO)
    return _("%(date)s at %(time)s") % {
        "date": date_format(local, "DATE_FORMAT"),
        "time": date_format(local, pgettext("time of day, PHP date format", "H:i")),
    }


@register.filter
def oslo_date(value: datetime.datetime | datetime.date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = value.astimezone(OSLO).date()
    return date_format(value, "DATE_FORMAT")
