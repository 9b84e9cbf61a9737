"""Effective deadline (calendar or extension), what counts as delivered, and on-time status."""

from __future__ import annotations

import datetime

import pytest

from submissions.deadlines import (
    OnTimeStatus,
    classify_delivery,
    effective_deadline,
    effective_deadline_from,
    extended_dates,
    on_time_status,
)
from submissions.models import Extension, Submission
from submissions.selectors_deadlines import accepted_delivery_at
from submissions.workdays import OSLO, end_of_day_oslo
from tests.factories import AcceptedSubmissionFactory, DeadlineFactory, ExtensionFactory, SubmitterFactory

pytestmark = pytest.mark.django_db
D = datetime.date


def oslo(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=OSLO)


def granted(submitter, deadline, day: datetime.date, **fields) -> Extension:
    return ExtensionFactory(
        submitter=submitter,
        deadline=deadline,
        status=Extension.Status.GRANTED,
        granted_date=day,
        decided_at=oslo(2030, 5, 2, 12),
        **fields,
    )


@pytest.fixture
def specialist():
    return SubmitterFactory()


@pytest.fixture
def deadline():
    return DeadlineFactory(year=2030)  # NPR 1 January to 30 April 2030, due 10 May 2030


def deliver(submitter, at: datetime.datetime, **overrides):
    """Both messages the deadline expects, accepted, received at `at`."""
    for kind in ("activity", "ident"):
        AcceptedSubmissionFactory(submitter=submitter, kind=kind, received_at=at, **overrides)


# -- effective deadline ----------------------------------------------------------------------------


def test_effective_deadline_is_the_calendars_without_an_extension(specialist, deadline):
    effective = effective_deadline(submitter=specialist, deadline=deadline)
    assert effective.date == D(2030, 5, 10)
    assert not effective.is_extended
    assert effective.due_at == end_of_day_oslo(D(2030, 5, 10))


def test_only_a_granted_extension_moves_the_deadline(specialist, deadline):
    for status in (Extension.Status.OPEN, Extension.Status.WITHDRAWN):
        ExtensionFactory(submitter=specialist, deadline=deadline, status=status)
    ExtensionFactory(
        submitter=specialist,
        deadline=deadline,
        status=Extension.Status.REFUSED,
        decision_reason="Nei",
        decided_at=oslo(2030, 5, 1, 9),
    )
    assert effective_deadline(submitter=specialist, deadline=deadline).date == D(2030, 5, 10)

    extension = granted(specialist, deadline, D(2030, 6, 1))
    effective = effective_deadline(submitter=specialist, deadline=deadline)
    assert (effective.date, effective.extension) == (D(2030, 6, 1), extension)
    assert effective.due_at.astimezone(datetime.UTC) == datetime.datetime(
        2030, 6, 1, 21, 59, 59, 999999, tzinfo=datetime.UTC
    )


def test_a_second_extension_moves_it_again_and_other_submitters_and_periods_are_untouched(specialist, deadline):
    granted(specialist, deadline, D(2030, 6, 1))
    granted(specialist, deadline, D(2030, 6, 20), previous_date=D(2030, 6, 1))
    assert effective_deadline(submitter=specialist, deadline=deadline).date == D(2030, 6, 20)
    other = SubmitterFactory()
    assert effective_deadline(submitter=other, deadline=deadline).date == D(2030, 5, 10)
    september = DeadlineFactory(year=2030, period_end=D(2030, 8, 31), due_date=D(2030, 9, 10))
    assert effective_deadline(submitter=specialist, deadline=september).date == D(2030, 9, 10)
    assert extended_dates(deadline=deadline) == {specialist.pk: D(2030, 6, 20)}
    assert extended_dates(deadline=deadline, submitter_ids=[other.pk]) == {}


def test_effective_deadline_from_is_pure(deadline):
    extension = Extension(
        deadline=deadline, status=Extension.Status.GRANTED, granted_date=D(2030, 7, 1), previous_date=D(2030, 5, 10)
    )
    effective = effective_deadline_from(deadline, [extension])
    assert effective.date == D(2030, 7, 1)
    assert effective_deadline_from(deadline, []).date == deadline.due_date


# -- on-time status (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delivered_at", "extended_to", "expected"),
    [
        (None, None, OnTimeStatus.NOT_RECEIVED),
        (oslo(2030, 5, 10, 23, 59, 59), None, OnTimeStatus.ON_TIME),  # the last second of the day, in Oslo
        (oslo(2030, 5, 11, 0, 0, 0), None, OnTimeStatus.LATE),
        (oslo(2030, 5, 9), D(2030, 6, 1), OnTimeStatus.ON_TIME),  # on time without needing the extension
        (oslo(2030, 5, 20), D(2030, 6, 1), OnTimeStatus.ON_TIME_WITH_EXTENSION),
        (oslo(2030, 6, 1, 23, 30), D(2030, 6, 1), OnTimeStatus.ON_TIME_WITH_EXTENSION),
        (oslo(2030, 6, 2, 0, 5), D(2030, 6, 1), OnTimeStatus.LATE),
        (None, D(2030, 6, 1), OnTimeStatus.NOT_RECEIVED),
    ],
)
def test_on_time_status(specialist, deadline, delivered_at, extended_to, expected):
    if extended_to:
        granted(specialist, deadline, extended_to)
    assert on_time_status(submitter=specialist, deadline=deadline, delivered_at=delivered_at) == expected


def test_classify_delivery_compares_instants_not_wall_clocks():
    due = end_of_day_oslo(D(2030, 5, 10))
    # 22:30 UTC on 10 May is 00:30 on 11 May in Oslo: late.
    late = datetime.datetime(2030, 5, 10, 22, 30, tzinfo=datetime.UTC)
    assert classify_delivery(calendar_due_at=due, due_at=due, delivered_at=late) == OnTimeStatus.LATE
    on_time = datetime.datetime(2030, 5, 10, 21, 30, tzinfo=datetime.UTC)
    assert classify_delivery(calendar_due_at=due, due_at=due, delivered_at=on_time) == OnTimeStatus.ON_TIME


# -- what counts as delivered ---------------------------------------------------------------------


def test_nothing_received(specialist, deadline):
    assert accepted_delivery_at(submitter=specialist, deadline=deadline) is None


def test_both_expected_messages_are_needed(specialist, deadline):
    AcceptedSubmissionFactory(submitter=specialist, kind="activity", received_at=oslo(2030, 5, 2))
    assert accepted_delivery_at(submitter=specialist, deadline=deadline) is None
    AcceptedSubmissionFactory(submitter=specialist, kind="ident", received_at=oslo(2030, 5, 4))
    assert accepted_delivery_at(submitter=specialist, deadline=deadline) == oslo(2030, 5, 4)


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": Submission.Status.REJECTED},
        {"validate_only": True},
        {"register": "KPR"},
        {"period_end": D(2030, 3, 31)},  # does not cover the period
        {"period_start": D(2029, 1, 1), "period_end": D(2029, 12, 31)},  # last year's file
    ],
)
def test_what_does_not_count(specialist, deadline, overrides):
    deliver(specialist, oslo(2030, 5, 2), **overrides)
    assert accepted_delivery_at(submitter=specialist, deadline=deadline) is None


def test_accepted_with_errors_and_a_later_cumulative_file_count(specialist, deadline):
    deliver(specialist, oslo(2030, 5, 2), status=Submission.Status.ACCEPTED_WITH_ERRORS)
    assert accepted_delivery_at(submitter=specialist, deadline=deadline) == oslo(2030, 5, 2)


def test_the_latest_file_by_the_deadline_counts_and_a_correction_after_it_does_not_make_it_late(specialist, deadline):
    deliver(specialist, oslo(2030, 5, 2))
    deliver(specialist, oslo(2030, 5, 9))
    deliver(specialist, oslo(2030, 9, 8), period_end=D(2030, 8, 31))  # the September file also covers the tertial
    delivered = accepted_delivery_at(submitter=specialist, deadline=deadline)
    assert delivered == oslo(2030, 5, 9)
    assert on_time_status(submitter=specialist, deadline=deadline, delivered_at=delivered) == OnTimeStatus.ON_TIME


def test_a_first_delivery_after_the_deadline_is_late_and_dated_when_it_first_arrived(specialist, deadline):
    deliver(specialist, oslo(2030, 5, 15))
    deliver(specialist, oslo(2030, 5, 20))
    delivered = accepted_delivery_at(submitter=specialist, deadline=deadline)
    assert delivered == oslo(2030, 5, 15)
    assert on_time_status(submitter=specialist, deadline=deadline, delivered_at=delivered) == OnTimeStatus.LATE


def test_with_an_extension_the_delivery_is_measured_against_the_new_deadline(specialist, deadline):
    granted(specialist, deadline, D(2030, 6, 1))
    deliver(specialist, oslo(2030, 5, 20))
    delivered = accepted_delivery_at(submitter=specialist, deadline=deadline)
    assert delivered == oslo(2030, 5, 20)
    status = on_time_status(submitter=specialist, deadline=deadline, delivered_at=delivered)
    assert status == OnTimeStatus.ON_TIME_WITH_EXTENSION


def test_change_messages_in_the_period_deliver_it(specialist, deadline):
    change = {"mode": Submission.Mode.CHANGE, "period_start": None, "period_end": None}
    deliver(specialist, oslo(2029, 12, 30), **change)  # before the period: does not count
    assert accepted_delivery_at(submitter=specialist, deadline=deadline) is None
    deliver(specialist, oslo(2030, 3, 1), **change)
    deliver(specialist, oslo(2030, 5, 8), **change)
    assert accepted_delivery_at(submitter=specialist, deadline=deadline) == oslo(2030, 5, 8)
