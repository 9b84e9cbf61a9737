"""Shared fixtures: named actors for access tests, one per role, and their tenants."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from django.test import Client

from portal.models import User
from tests.factories import (
    ContactFactory,
    EpjVendorFactory,
    MembershipFactory,
    MunicipalitySubmitterFactory,
    SubmitterFactory,
    UserFactory,
)

PASSWORD = "correct horse battery"

# A real OpenID Connect provider on 127.0.0.1 for the HelseID sign-in tests: fixtures `helseid`, `oidc_provider`.
pytest_plugins = ["tests.oidc_provider"]


@dataclass
class World:
    """Two vendors, three submitters and one user per role."""

    vendor: object
    other_vendor: object
    municipality: object
    specialist: object
    other_specialist: object
    municipality_user: User
    specialist_user: User
    vendor_user: User
    staff_user: User
    outsider: User


def build_world() -> World:
    """Create the named actors; the caller provides database access (`db` or `transactional_db`)."""
    vendor = EpjVendorFactory(name="Gerica")
    other_vendor = EpjVendorFactory(name="Infodoc")
    municipality = MunicipalitySubmitterFactory(name="Oslo kommune", municipality_number="0301", epj_vendor=vendor)
    specialist = SubmitterFactory(name="Psykiater Hansen", epj_vendor=other_vendor)
    other_specialist = SubmitterFactory(name="Øyelege Berg", epj_vendor=other_vendor)
    ContactFactory(submitter=municipality, name="Kari Teknisk", contact_types=[1])
    ContactFactory(submitter=specialist, name="Per Psykiater", contact_types=[1, 3])
    ContactFactory(submitter=other_specialist, name="Eva Øye", contact_types=[1, 2])
    municipality_user = UserFactory(username="kommune")
    MembershipFactory(user=municipality_user, submitter=municipality)
    specialist_user = UserFactory(username="spesialist")
    MembershipFactory(user=specialist_user, submitter=specialist)
    vendor_user = UserFactory(username="leverandor", epj_vendor=vendor)
    staff_user = UserFactory(username="fhi", registry_role=User.RegistryRole.STAFF)
    outsider = UserFactory(username="utenforstaende")
    return World(
        vendor=vendor,
        other_vendor=other_vendor,
        municipality=municipality,
        specialist=specialist,
        other_specialist=other_specialist,
        municipality_user=municipality_user,
        specialist_user=specialist_user,
        vendor_user=vendor_user,
        staff_user=staff_user,
        outsider=outsider,
    )


@pytest.fixture
def world(db) -> World:
    return build_world()


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


_cache_namespaces = itertools.count(1000)


@pytest.fixture(autouse=True)
def _own_cache_namespace():
    """Each test its own cache keys: rate-limit counters and DPoP replay entries outlive a test's rolled-back
    transaction when the cache is Redis (CI)."""
    from django.core.cache import cache

    previous = cache.version
    cache.version = next(_cache_namespaces)
    yield
    cache.version = previous


@pytest.fixture(autouse=True)
def _municipality_code_list(request):
    """Transactional tests flush the database, including the code list a migration loaded: reload it."""
    from pytest_django.fixtures import validate_django_db

    marker = request.node.get_closest_marker("django_db")  # pytest.mark.django_db(transaction=True) too
    transactional = False
    if marker is not None:
        transaction, reset_sequences, *_rest = validate_django_db(marker)
        transactional = bool(transaction or reset_sequences)
    if not transactional and not {"transactional_db", "live_server"} & set(request.fixturenames):
        return
    request.getfixturevalue("transactional_db")
    from portal.models import Municipality
    from portal.municipalities import SHIPPED_FILES, load_klass_file
    from portal.services import municipalities_import

    if not Municipality.objects.exists():
        for path in SHIPPED_FILES:
            municipalities_import(codes=load_klass_file(path))
