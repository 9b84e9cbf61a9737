"""Norwegian working days and the end of a deadline day in Oslo: pure functions, no database."""

from __future__ import annotations

import datetime

import pytest

from submissions.workdays import (
    easter_sunday,
    end_of_day_oslo,
    is_working_day,
    norwegian_public_holidays,
    working_days_between,
)

UTC = datetime.UTC
D = datetime.date


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2019, D(2019, 4, 21)), (2024, D(2024, 3, 31)), (2025, D(2025, 4, 20)), (2026, D(2026, 4, 5)),
     (2027, D(2027, 3, 28)), (2038, D(2038, 4, 25)), (2285, D(2285, 3, 22))],
)  # fmt: skip
def test_easter_sunday(year, easter):
    assert easter_sunday(year) == easter


def test_the_twelve_public_holidays_of_2025():
    holidays = norwegian_public_holidays(2025)
    assert sorted(holidays) == [
        D(2025, 1, 1),
        D(2025, 4, 17),  # Maundy Thursday
        D(2025, 4, 18),  # Good Friday
        D(2025, 4, 20),
        D(2025, 4, 21),  # Easter Monday
        D(2025, 5, 1),
        D(2025, 5, 17),
        D(2025, 5, 29),  # Ascension Day
        D(2025, 6, 8),
        D(2025, 6, 9),  # Whit Monday
        D(2025, 12, 25),
        D(2025, 12, 26),
    ]
    assert holidays[D(2025, 5, 29)] == "Kristi himmelfartsdag"


def test_working_days():
    assert is_working_day(D(2025, 5, 16))  # a Friday
    assert not is_working_day(D(2025, 5, 17))  # Constitution Day, a Saturday anyway
    assert not is_working_day(D(2025, 5, 18))  # Sunday
    assert not is_working_day(D(2025, 4, 17))  # Maundy Thursday
    assert is_working_day(D(2025, 12, 24))  # Christmas Eve is a working day
    assert not is_working_day(D(2024, 5, 17))  # a Friday, but Constitution Day


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2025, 3, 3), D(2025, 3, 3), 0),  # same day
        (D(2025, 3, 3), D(2025, 3, 4), 0),  # the next day has not ended
        (D(2025, 3, 3), D(2025, 3, 5), 1),  # Monday → Wednesday: Tuesday missed
        (D(2025, 3, 7), D(2025, 3, 10), 0),  # Friday → Monday: only a weekend between
        (D(2025, 3, 6), D(2025, 3, 10), 1),  # Thursday → Monday: Friday missed
        (D(2025, 4, 16), D(2025, 4, 23), 1),  # Easter: only Tuesday 22 April is a working day between
        (D(2025, 5, 16), D(2025, 5, 16), 0),
    ],
)
def test_working_days_between(start, end, expected):
    assert working_days_between(start, end) == expected


def test_end_of_day_in_oslo_summer_and_winter():
    summer = end_of_day_oslo(D(2025, 5, 10))  # CEST, UTC+2
    winter = end_of_day_oslo(D(2025, 1, 10))  # CET, UTC+1
    assert summer.utcoffset() == datetime.timedelta(hours=2)
    assert winter.utcoffset() == datetime.timedelta(hours=1)
    assert summer.astimezone(UTC) == datetime.datetime(2025, 5, 10, 21, 59, 59, 999999, tzinfo=UTC)
    assert winter.astimezone(UTC) == datetime.datetime(2025, 1, 10, 22, 59, 59, 999999, tzinfo=UTC)
    assert (summer.hour, summer.minute) == (23, 59)


@pytest.mark.parametrize("day", [D(2025, 3, 30), D(2025, 10, 26)])
def test_end_of_day_on_the_days_the_clocks_change(day):
    """On the changeover days the day ends in the new offset: 23.59 summer time in March, winter time in
    October; one microsecond later is midnight in Oslo."""
    end = end_of_day_oslo(day)
    assert end.utcoffset() == datetime.timedelta(hours=2 if day.month == 3 else 1)
    next_midnight = (end.astimezone(UTC) + datetime.timedelta(microseconds=1)).astimezone(end.tzinfo)
    assert (next_midnight.date(), next_midnight.hour, next_midnight.minute) == (day + datetime.timedelta(1), 0, 0)
