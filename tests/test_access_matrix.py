"""The access matrix: every URL pattern that takes an object id, for every role, on objects of its own and
of other tenants. No cross-tenant read or write succeeds (404), and every refusal is in the audit log.

A new URL pattern with an id fails `test_every_pattern_with_an_object_id_has_an_entry` until it gets a
line in ENTRIES below: who may use it on their own objects (the rest must get 404), the methods to try,
and which object its ids name. Patterns of the admin site are covered by their own rule (only Django
staff accounts get past its sign-in).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from feedback.models import FeedbackReport
from portal.models import AuditEvent, User
from portal.readiness import FeedbackKind
from tests.conftest import World, build_world, client_for
from tests.factories import DeadlineFactory, ExtensionFactory, UserFactory
from tests.submissions.test_submission_pages import kpr_message, send

pytestmark = pytest.mark.django_db

ROLES = ("member", "specialist", "vendor", "staff", "admin", "outsider")
SEES = frozenset({"member", "specialist", "vendor", "staff", "admin"})  # the submitter's pages and receipts
EDITORS = frozenset({"member", "specialist", "staff", "admin"})  # contacts (vendors only read)
MEMBERS = frozenset({"member", "specialist"})  # a submitter's own requests
REGISTRY = frozenset({"staff", "admin"})  # registry staff's pages


@dataclass(frozen=True)
class Entry:
    allowed: frozenset[str]  # roles that may use it on their own objects; all others get 404
    methods: tuple[str, ...] = ("GET",)
    child: str | None = None  # the object named after submitter_id: contact, submission, extension or report
    registry_object: str | None = None  # no submitter_id: the view is registry staff's (extension, deadline)
    extra: tuple[tuple[str, str], ...] = ()  # other URL parameters


ENTRIES: dict[str, Entry] = {
    "portal:submitter_detail": Entry(SEES),
    "portal:contact_create": Entry(EDITORS, ("GET", "POST")),
    "portal:contact_update": Entry(EDITORS, ("GET", "POST"), child="contact"),
    "portal:contact_delete": Entry(EDITORS, ("POST",), child="contact"),
    "submissions:submission_list": Entry(SEES),
    "submissions:submission_detail": Entry(SEES, child="submission"),
    "deadlines:submitter_deadlines": Entry(SEES),
    "deadlines:extension_apply": Entry(MEMBERS, ("POST",)),
    "deadlines:extension_withdraw": Entry(MEMBERS, ("POST",), child="extension"),
    "deadlines:extension_decide": Entry(REGISTRY, ("GET", "POST"), registry_object="extension"),
    "deadlines:deadline_update": Entry(REGISTRY, ("GET", "POST"), registry_object="deadline"),
    # Feedback: the list shows each role the kinds it may open; a vendor downloads validation feedback only
    # (test_vendors_download_validation_feedback_only); ordering and re-sending are registry staff's.
    "feedback:feedback_list": Entry(SEES),
    "feedback:feedback_download": Entry(SEES, child="report"),
    "feedback:activity_order": Entry(REGISTRY, ("POST",)),
    "feedback:password_resend": Entry(REGISTRY, ("POST",)),
    # The daily view. Comments: an empty form is answered with a redirect for whoever may read the page;
    # only members may save one (submissions' own tests).
    "submissions:daily:submitter": Entry(SEES),
    "submissions:daily:submitter_download": Entry(SEES, extra=(("table", "maaneder"), ("extension", "csv"))),
    "submissions:daily:comment": Entry(SEES, ("POST",)),
    "submissions:daily:refresh_submitter": Entry(REGISTRY, ("POST",)),
}


# -- the resolver -------------------------------------------------------------------------------------


ROUTE_PARAMETER = re.compile(r"<(?:[^>:]+:)?(\w+)>|\(\?P<(\w+)>")


def _is_id(name: str) -> bool:
    return name in ("id", "pk") or name.endswith("_id")


def url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> list[tuple]:
    """(view name, full route, id parameters) of every pattern, walking includes recursively; the ids
    come from the whole route, so a parameter in an include's prefix counts too."""
    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace and (f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace)
            found += url_patterns(pattern, route, inner or namespace)
        elif isinstance(pattern, URLPattern):
            names = [a or b for a, b in ROUTE_PARAMETER.findall(route)]
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else (pattern.name or "")
            found.append((name, route, [n for n in names if _is_id(n)]))
    return found


def id_patterns() -> tuple[dict[str, str], list[str]]:
    """Portal patterns with an id (name -> route), and admin-site routes with an id."""
    portal, admin = {}, []
    for name, route, ids in url_patterns():
        if not ids:
            continue
        if route.startswith("admin/"):
            admin.append(route)
        else:
            portal[name or route] = route
    return portal, admin


def test_every_pattern_with_an_object_id_has_an_entry():
    portal, _admin = id_patterns()
    missing = sorted(set(portal) - set(ENTRIES))
    assert not missing, (
        f"URL patterns with an object id but no line in tests/test_access_matrix.py ENTRIES: {missing}. "
        "Say who may use each on their own objects; every other role must get 404."
    )
    stale = sorted(set(ENTRIES) - set(portal))
    assert not stale, f"ENTRIES name patterns that no longer exist or take no id: {stale}"


def test_the_walk_finds_ids_in_nested_includes():
    portal, admin = id_patterns()
    assert portal["submissions:submission_detail"] == "innsendere/<int:submitter_id>/innsendinger/<int:submission_id>/"
    assert any(route.endswith("<path:object_id>/change/") for route in admin)


# -- the world ----------------------------------------------------------------------------------------


@dataclass
class Matrix:
    world: World
    users: dict[str, User]
    own: dict[str, object]  # role -> a submitter it may see
    foreign: dict[str, object]  # role -> a submitter of another tenant
    children: dict[tuple[str, int], object]  # (kind, submitter id) -> an object of that submitter
    deadline: object


def build_matrix() -> Matrix:
    world = build_world()
    admin = UserFactory(username="fhi-admin", registry_role=User.RegistryRole.ADMIN)
    users = {
        "member": world.municipality_user,
        "specialist": world.specialist_user,
        "vendor": world.vendor_user,
        "staff": world.staff_user,
        "admin": admin,
        "outsider": world.outsider,
    }
    own = {
        "member": world.municipality,
        "specialist": world.specialist,
        "vendor": world.municipality,  # its vendor's customer
        "staff": world.municipality,
        "admin": world.specialist,
    }
    foreign = {
        "member": world.specialist,
        "specialist": world.other_specialist,  # the same vendor, another practice
        "vendor": world.specialist,  # another vendor's customer
        "outsider": world.municipality,
    }
    children: dict[tuple[str, int], object] = {}
    deadline = DeadlineFactory()
    for submitter, member in (
        (world.municipality, world.municipality_user),
        (world.specialist, world.specialist_user),
        (world.other_specialist, world.specialist_user),
    ):
        children["contact", submitter.pk] = submitter.contacts.first()
        message = kpr_message(submitter)
        if submitter.kind != "municipality":
            message["register"] = "NPR"
            message["recipient"] = {"org_her_id": 85217, "service_her_id": 94378}
            message["sender"] = {"org_number": submitter.org_number}
            message["records"] = []
        children["submission", submitter.pk] = send(submitter, message)
        children["extension", submitter.pk] = ExtensionFactory(
            submitter=submitter, deadline=deadline, requested_by=member
        )
        children["report", submitter.pk] = produced_report(submitter, FeedbackKind.CONTENT_VALIDATION)
    return Matrix(world, users, own, foreign, children, deadline)


def produced_report(submitter, kind: str) -> FeedbackReport:
    report = FeedbackReport(
        submitter=submitter,
        kind=kind,
        register="NPR",
        trigger=FeedbackReport.Trigger.STAFF,
        key=f"matrix-{kind}-{submitter.pk}-{uuid.uuid4().hex}",
        status=FeedbackReport.Status.PRODUCED,
        file_name=f"{kind}.zip",
    )
    report.file.save(f"matrix-{uuid.uuid4().hex}.zip", ContentFile(b"PK\x05\x06" + bytes(18)), save=False)
    report.save()
    return report


def _cases(name: str, entry: Entry, matrix: Matrix) -> list[tuple[str, str, dict, bool]]:
    """(role, case, URL kwargs, allowed) for one pattern."""
    cases = []
    if entry.registry_object:
        obj = (
            matrix.deadline
            if entry.registry_object == "deadline"
            else matrix.children["extension", matrix.world.municipality.pk]
        )
        kwargs = {f"{entry.registry_object}_id": obj.pk, **dict(entry.extra)}
        return [(role, "registry object", kwargs, role in entry.allowed) for role in ROLES]
    for role in ROLES:
        own, foreign = matrix.own.get(role), matrix.foreign.get(role)
        if own is not None:
            kwargs = {"submitter_id": own.pk, **dict(entry.extra)}
            if entry.child:
                kwargs[f"{entry.child}_id"] = matrix.children[entry.child, own.pk].pk
            cases.append((role, "own", kwargs, role in entry.allowed))
            if entry.child:
                # Someone else's object addressed through one's own submitter.
                other = (
                    matrix.world.other_specialist
                    if own.pk != matrix.world.other_specialist.pk
                    else matrix.world.municipality
                )
                mixed = {
                    "submitter_id": own.pk,
                    f"{entry.child}_id": matrix.children[entry.child, other.pk].pk,
                    **dict(entry.extra),
                }
                cases.append((role, "another tenant's object through one's own submitter", mixed, False))
        if foreign is not None:
            kwargs = {"submitter_id": foreign.pk, **dict(entry.extra)}
            if entry.child:
                kwargs[f"{entry.child}_id"] = matrix.children[entry.child, foreign.pk].pk
            cases.append((role, "another tenant", kwargs, False))
    return cases


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_no_role_reaches_another_tenants_objects_and_every_refusal_is_logged(name):
    entry = ENTRIES[name]
    matrix = build_matrix()
    clients = {role: client_for(user) for role, user in matrix.users.items()}
    problems = []
    for role, case, kwargs, allowed in _cases(name, entry, matrix):
        url = reverse(name, kwargs=kwargs)
        for method in entry.methods:
            # Each attempt in a savepoint that is rolled back: a delete must not spoil the next case.
            with transaction.atomic():
                before = AuditEvent.objects.filter(kind="authorization_failed").count()
                response = getattr(clients[role], method.lower())(url)
                refusals = AuditEvent.objects.filter(
                    kind="authorization_failed", user_id=matrix.users[role].pk, path=url
                ).count()
                logged = AuditEvent.objects.filter(kind="authorization_failed").count() - before
                transaction.set_rollback(True)
            label = f"{role} {method} {url} ({case})"
            if allowed:
                # Allowed: not refused (an empty form may well be answered with 400).
                if response.status_code in (403, 404) or response.status_code >= 500 or logged:
                    problems.append(f"{label}: expected access, got {response.status_code}, {logged} refusals logged")
            elif response.status_code != 404:
                problems.append(f"{label}: expected 404, got {response.status_code}")
            elif refusals != 1:
                problems.append(f"{label}: 404 but {refusals} refusals in the audit log")
    assert problems == []


def test_the_admin_site_lets_no_portal_role_in(world):
    """Only Django staff accounts (is_staff) pass the admin site's sign-in; no portal role has one."""
    _portal, admin_routes = id_patterns()
    admin = UserFactory(username="fhi-admin", registry_role=User.RegistryRole.ADMIN)
    users = [world.municipality_user, world.vendor_user, world.staff_user, admin, world.outsider]
    for user in users:
        client = client_for(user)
        for route in admin_routes:
            path = "/" + route.replace("<path:content_type_id>", "1").replace(
                "<path:object_id>", str(world.municipality.pk)
            )
            path = path.replace("<id>", str(world.municipality_user.pk))
            response = client.get(path)
            assert response.status_code == 302, (user.username, path, response.status_code)
            assert response["Location"].startswith("/admin/login/"), (user.username, path)
    follow = Client().get("/admin/login/", {"next": "/admin/"})
    assert follow["Location"] == reverse("portal:login") + "?next=%2Fadmin%2F"


def test_vendors_download_validation_feedback_only():
    matrix = build_matrix()
    customer = matrix.world.municipality
    activity = produced_report(customer, FeedbackKind.ACTIVITY)
    vendor = client_for(matrix.users["vendor"])
    validation_url = reverse(
        "feedback:feedback_download", args=[customer.pk, matrix.children["report", customer.pk].pk]
    )
    response = vendor.get(validation_url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert AuditEvent.objects.filter(kind="download", user_id=matrix.users["vendor"].pk).count() == 1
    activity_url = reverse("feedback:feedback_download", args=[customer.pk, activity.pk])
    assert vendor.get(activity_url).status_code == 404
    assert AuditEvent.objects.filter(kind="authorization_failed", path=activity_url).count() == 1
    assert client_for(matrix.users["member"]).get(activity_url).status_code == 200
