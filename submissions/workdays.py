"""Norwegian working days and the end of a deadline day in Oslo time. Pure functions, no Django.

Public holidays are the ones in the Norwegian Public Holidays Act (lov om 1. og 17. mai som
høgtidsdager) and the Church's holy days (helligdagsloven): New Year's Day, Maundy Thursday,
Good Friday, Easter Sunday and Monday, 1 May, 17 May, Ascension Day, Whit Sunday and Monday,
Christmas Day and Boxing Day. Christmas Eve and New Year's Eve are ordinary (if short) working days.
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")


def easter_sunday(year: int) -> datetime.date:
    """Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return datetime.date(year, month, day + 1)


@lru_cache(maxsize=64)
def norwegian_public_holidays(year: int) -> dict[datetime.date, str]:
    """The public holidays of one year, by date, with their Norwegian names."""
    easter = easter_sunday(year)

    def after_easter(days: int) -> datetime.date:
        return easter + datetime.timedelta(days=days)

    return {
        datetime.date(year, 1, 1): "Første nyttårsdag",
        after_easter(-3): "Skjærtorsdag",
        after_easter(-2): "Langfredag",
        easter: "Første påskedag",
        after_easter(1): "Andre påskedag",
        datetime.date(year, 5, 1): "Offentlig høytidsdag",
        datetime.date(year, 5, 17): "Grunnlovsdag",
        after_easter(39): "Kristi himmelfartsdag",
        after_easter(49): "Første pinsedag",
        after_easter(50): "Andre pinsedag",
        datetime.date(year, 12, 25): "Første juledag",
        datetime.date(year, 12, 26): "Andre juledag",
    }


def is_working_day(day: datetime.date) -> bool:
    """Monday to Friday and not a public holiday."""
    return day.weekday() < 5 and day not in norwegian_public_holidays(day.year)


def working_days_between(start: datetime.date, end: datetime.date) -> int:
    """Working days strictly after `start` and strictly before `end` (0 when end <= start + 1)."""
    count = 0
    day = start + datetime.timedelta(days=1)
    while day < end:
        if is_working_day(day):
            count += 1
        day += datetime.timedelta(days=1)
    return count


def end_of_day_oslo(day: datetime.date) -> datetime.datetime:
    """The last instant of `day` on the wall clock in Oslo, as an aware datetime.

    zoneinfo picks the offset in force on that date (+01:00 in winter, +02:00 in summer), so a
    deadline on 10 May ends at 21:59:59.999999 UTC and one on 10 January at 22:59:59.999999 UTC.
    """
    return datetime.datetime.combine(day, datetime.time.max, tzinfo=OSLO)


def start_of_day_oslo(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=OSLO)
