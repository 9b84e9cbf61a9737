"""The reporting calendar: the seeded deadlines, which apply to whom, and the calendar's own rules."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from portal.models import Submitter
from submissions.models import Deadline
from submissions.selectors_deadlines import applicable_deadlines, deadlines_for
from submissions.templatetags.deadline_format import oslo_date, oslo_datetime
from tests.factories import DeadlineFactory, MunicipalitySubmitterFactory, SubmitterFactory

pytestmark = pytest.mark.django_db
D = datetime.date


def dues(deadlines):
    return [(d.register, d.due_date) for d in deadlines]


def test_the_published_calendar_is_seeded_for_2024_to_2027():
    npr = Deadline.objects.filter(register="NPR")
    assert set(npr.filter(due_date__year=2025).values_list("due_date", "period_start", "period_end")) == {
        (D(2025, 1, 10), D(2024, 1, 1), D(2024, 12, 31)),
        (D(2025, 5, 10), D(2025, 1, 1), D(2025, 4, 30)),
        (D(2025, 9, 10), D(2025, 1, 1), D(2025, 8, 31)),
    }
    kpr = Deadline.objects.filter(register="KPR")
    assert sorted(kpr.values_list("due_date", flat=True)) == [D(year, 1, 15) for year in range(2024, 2029)]
    for deadline in Deadline.objects.all():
        assert deadline.cumulative
        assert deadline.message_kinds == ["activity", "ident"]
        assert deadline.period_start == D(deadline.year, 1, 1)
    assert Deadline.objects.get(register="KPR", due_date=D(2025, 1, 15)).submitter_kinds == ["municipality"]
    assert set(Deadline.objects.get(register="NPR", due_date=D(2026, 5, 10)).submitter_kinds) == {
        "contract_specialist",
        "private_institution",
        "other_private",
    }


def test_which_deadlines_apply_to_whom():
    specialist = SubmitterFactory()
    municipality = MunicipalitySubmitterFactory()
    institution = SubmitterFactory(kind=Submitter.Kind.PRIVATE_INSTITUTION)
    private_npr = SubmitterFactory(kind=Submitter.Kind.OTHER_PRIVATE)
    private_kpr = SubmitterFactory(kind=Submitter.Kind.OTHER_PRIVATE, reports_npr=False, reports_kpr=True)
    health_trust = SubmitterFactory(kind=Submitter.Kind.HEALTH_TRUST, sector=Submitter.Sector.PUBLIC)
    not_reporting = SubmitterFactory(reports_npr=False)

    npr_2025 = [("NPR", D(2025, 5, 10)), ("NPR", D(2025, 9, 10)), ("NPR", D(2026, 1, 10))]
    for submitter in (specialist, institution, private_npr):
        assert dues(deadlines_for(submitter, 2025)) == npr_2025
    assert dues(deadlines_for(municipality, 2025)) == [("KPR", D(2026, 1, 15))]
    # KPR deadlines are for municipalities; health trusts follow their own (monthly) routine.
    for submitter in (private_kpr, health_trust, not_reporting):
        assert deadlines_for(submitter, 2025) == []
    assert deadlines_for(specialist, 2031) == []


def test_a_staff_defined_group_decides_who_a_deadline_applies_to():
    deadline = DeadlineFactory(register="KPR", submitter_kinds=["municipality", "other_private"], year=2030)
    private_kpr = SubmitterFactory(kind=Submitter.Kind.OTHER_PRIVATE, reports_npr=False, reports_kpr=True)
    assert deadline.applies_to(private_kpr)
    assert deadline in applicable_deadlines(private_kpr)
    assert not deadline.applies_to(SubmitterFactory())  # an NPR contract specialist


def test_a_deadline_ends_at_the_end_of_the_day_in_oslo_in_summer_and_winter():
    may = Deadline.objects.get(register="NPR", due_date=D(2025, 5, 10))
    january = Deadline.objects.get(register="NPR", due_date=D(2025, 1, 10))
    assert may.due_at.astimezone(datetime.UTC) == datetime.datetime(2025, 5, 10, 21, 59, 59, 999999, datetime.UTC)
    assert january.due_at.astimezone(datetime.UTC) == datetime.datetime(2025, 1, 10, 22, 59, 59, 999999, datetime.UTC)
    with translation.override("nb"):
        assert oslo_datetime(may.due_at) == "10. mai 2025 kl. 23.59"
        assert oslo_datetime(january.due_date) == "10. januar 2025 kl. 23.59"
        assert oslo_date(may.due_date) == "10. mai 2025"
    with translation.override("en"):
        assert oslo_datetime(may.due_at) == "May 10, 2025 at 23:59"


def test_annual_and_period_display():
    annual = Deadline.objects.get(register="KPR", due_date=D(2025, 1, 15))
    tertial = Deadline.objects.get(register="NPR", due_date=D(2025, 5, 10))
    assert annual.is_annual and annual.year == 2024
    assert not tertial.is_annual
    assert tertial.period_display == "1.1.–30.4.2025"
    with translation.override("en"):
        assert tertial.get_message_kinds_display() == "Activity (ord), Identity (ide)"
        assert annual.get_message_kinds_display() == "Activity (KPR_IPL), Identity (KPR_IDE)"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"period_start": D(2030, 2, 1)}, "period_start"),  # cumulative files start on 1 January
        ({"period_end": D(2031, 1, 31), "due_date": D(2031, 2, 10)}, "period_end"),  # across a year end
        ({"due_date": D(2030, 4, 30)}, "due_date"),  # not after the period
        ({"submitter_kinds": []}, "submitter_kinds"),
        ({"submitter_kinds": ["dentist"]}, "submitter_kinds"),
        ({"message_kinds": []}, "message_kinds"),
    ],
)
def test_calendar_rules(changes, field):
    deadline = DeadlineFactory.build(**changes)
    with pytest.raises(ValidationError) as error:
        deadline.full_clean()
    assert field in error.value.message_dict


def test_one_deadline_per_period_for_a_kind_of_submitter():
    DeadlineFactory(year=2030, submitter_kinds=["contract_specialist", "other_private"])
    clash = DeadlineFactory.build(year=2030, due_date=D(2030, 5, 20), submitter_kinds=["other_private"])
    with translation.override("en"), pytest.raises(ValidationError, match="already have a deadline"):
        clash.full_clean()
    other_group = DeadlineFactory.build(year=2030, due_date=D(2030, 5, 20), submitter_kinds=["private_institution"])
    other_group.full_clean()
