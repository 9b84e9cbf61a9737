from __future__ import annotations

import datetime
import uuid

import factory
from django.utils import timezone

from portal.demo import OrgNumbers
from portal.models import ContactPerson, ContactType, EpjVendor, Membership, ServiceArea, Submitter, User
from submissions.models import Deadline, Extension, Submission

_org_numbers = OrgNumbers(97_000_000, set())


class EpjVendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EpjVendor

    name = factory.Sequence(lambda n: f"Journalsystem {n} AS")
    org_number = factory.LazyFunction(lambda: next(_org_numbers))


class SubmitterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Submitter

    name = factory.Sequence(lambda n: f"Spesialist {n}")
    kind = Submitter.Kind.CONTRACT_SPECIALIST
    sector = Submitter.Sector.PRIVATE
    org_number = factory.LazyFunction(lambda: next(_org_numbers))
    her_id = factory.Sequence(lambda n: 500_000 + n)
    reports_npr = True
    service_areas = factory.LazyFunction(lambda: [ServiceArea.SOMATIC])


class MunicipalitySubmitterFactory(SubmitterFactory):
    name = factory.Sequence(lambda n: f"Kommune {n}")
    kind = Submitter.Kind.MUNICIPALITY
    sector = Submitter.Sector.PUBLIC
    reports_npr = False
    reports_kpr = True
    service_areas = factory.LazyFunction(lambda: [ServiceArea.MUNICIPAL_CARE])
    municipality_number = "0301"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPerson

    submitter = factory.SubFactory(SubmitterFactory)
    name = factory.Sequence(lambda n: f"Kontakt {n}")
    email = factory.Sequence(lambda n: f"kontakt{n}@example.no")
    mobile = factory.Sequence(lambda n: f"+479{n % 10_000_000:07d}")
    contact_types = factory.LazyFunction(lambda: [ContactType.TECHNICAL])


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    submitter = factory.SubFactory(SubmitterFactory)


# -- deadlines and extensions ---------------------------------------------------------------------


class DeadlineFactory(factory.django.DjangoModelFactory):
    """An NPR tertial deadline for contract specialists (1 January to 30 April, due 10 May) of `year`."""

    class Meta:
        model = Deadline

    class Params:
        year = 2030

    register = "NPR"
    submitter_kinds = factory.LazyFunction(lambda: ["contract_specialist"])
    period_start = factory.LazyAttribute(lambda o: datetime.date(o.year, 1, 1))
    period_end = factory.LazyAttribute(lambda o: datetime.date(o.year, 4, 30))
    due_date = factory.LazyAttribute(lambda o: datetime.date(o.year, 5, 10))
    cumulative = True
    message_kinds = factory.LazyFunction(lambda: ["activity", "ident"])


class AcceptedSubmissionFactory(factory.django.DjangoModelFactory):
    """An accepted, full-period NPR activity message; override register, kind, mode, period and status."""

    class Meta:
        model = Submission

    submitter = factory.SubFactory(SubmitterFactory)
    message_id = factory.LazyFunction(uuid.uuid4)
    client_org_number = factory.LazyAttribute(lambda o: o.submitter.org_number)
    body_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    register = "NPR"
    kind = "activity"
    mode = Submission.Mode.FULL
    period_start = datetime.date(2030, 1, 1)
    period_end = datetime.date(2030, 4, 30)
    status = Submission.Status.ACCEPTED
    received_at = factory.LazyFunction(timezone.now)
    receipt = factory.LazyFunction(dict)


class ExtensionFactory(factory.django.DjangoModelFactory):
    """An open request for a later deadline, made by a member of the submitter."""

    class Meta:
        model = Extension

    submitter = factory.SubFactory(SubmitterFactory)
    deadline = factory.SubFactory(DeadlineFactory)
    previous_date = factory.LazyAttribute(lambda o: o.deadline.due_date)
    requested_date = factory.LazyAttribute(lambda o: o.previous_date + datetime.timedelta(days=14))
    justification = "Bytte av journalsystem."
    requested_by = factory.SubFactory(UserFactory)
