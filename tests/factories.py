from __future__ import annotations

import factory

from portal.demo import OrgNumbers
from portal.models import ContactPerson, ContactType, EpjVendor, Membership, ServiceArea, Submitter, User

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
