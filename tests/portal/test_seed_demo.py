"""The demo data is realistic and complete enough to try every page."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from portal.lib.norway import is_valid_norwegian_mobile, is_valid_org_number
from portal.models import ContactPerson, EpjVendor, Membership, Municipality, Submitter, User
from portal.readiness import FeedbackKind, feedback_readiness

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    # Records (the submissions app's step) are tested in tests/submissions/test_daily_demo.py.
    call_command("seed_demo", "--submitters", "1000", "--specialists", "200", "--records", "0")
    return capsys.readouterr().out


def test_every_2024_municipality_is_a_kpr_submitter(seeded):
    municipalities = Submitter.objects.filter(kind=Submitter.Kind.MUNICIPALITY)
    assert municipalities.count() == 357
    assert not municipalities.filter(reports_kpr=False).exists()
    numbers_2024 = set(Municipality.objects.filter(valid_from__year=2024).values_list("number", flat=True))
    assert set(municipalities.values_list("municipality_number", flat=True)) == numbers_2024


def test_groups_and_total(seeded):
    assert Submitter.objects.count() == 1000
    assert Submitter.objects.filter(kind=Submitter.Kind.CONTRACT_SPECIALIST).count() == 200
    assert Submitter.objects.filter(kind=Submitter.Kind.HEALTH_TRUST).count() == 20
    assert Submitter.objects.filter(kind=Submitter.Kind.PRIVATE_INSTITUTION).exists()
    assert Submitter.objects.filter(kind=Submitter.Kind.OTHER_PRIVATE).exists()
    assert EpjVendor.objects.count() >= 10
    assert all(is_valid_org_number(n) for n in Submitter.objects.values_list("org_number", flat=True))


def test_contacts_include_the_hard_cases(seeded):
    contacts = list(ContactPerson.objects.all())
    assert len(contacts) >= 1000
    without_mobile = [c for c in contacts if not c.mobile]
    assert 0 < len(without_mobile) < len(contacts) / 4
    assert all(is_valid_norwegian_mobile(c.mobile) for c in contacts if c.mobile)
    not_ready = [
        s
        for s in Submitter.objects.prefetch_related("contacts")[:300]
        if not next(r for r in feedback_readiness(s) if r.kind == FeedbackKind.IDENT).ready
    ]
    assert not_ready, "some submitters must lack a type-1 contact who can open feedback"


def test_demo_users_for_each_role_with_printed_passwords(seeded, settings):
    for username in ("kommune", "spesialist", "leverandor", "fhi", "utenforstaende"):
        assert username in seeded
    password = next(line.split()[1] for line in seeded.splitlines() if line.strip().startswith("kommune "))
    assert User.objects.get(username="kommune").check_password(password)
    assert Membership.objects.filter(user__username="kommune").count() == 2
    assert User.objects.get(username="fhi").is_registry_staff
    assert User.objects.get(username="leverandor").epj_vendor is not None
    assert not Membership.objects.filter(user__username="utenforstaende").exists()
    assert (settings.VAR_DIR / "demo-users.txt").read_text().count("\n") >= 6


def test_seeding_twice_is_refused_or_skipped(seeded, capsys):
    with pytest.raises(CommandError):
        call_command("seed_demo")
    call_command("seed_demo", "--if-empty")
    assert "nothing to do" in capsys.readouterr().out
    assert Submitter.objects.count() == 1000


def test_reset_rebuilds(seeded):
    call_command("seed_demo", "--reset", "--submitters", "600", "--specialists", "50")
    assert Submitter.objects.count() == 600
    assert User.objects.filter(username="kommune").count() == 1


def test_reset_also_removes_what_other_apps_hang_on_submitters(seeded):
    import json
    import uuid

    from django.utils import timezone

    from submissions.intake import Sender, submission_receive
    from submissions.models import Record, Submission

    oslo = Submitter.objects.get(municipality_number="0301")
    message = {
        "message_id": str(uuid.uuid4()),
        "register": "KPR",
        "kind": "activity",
        "schema_version": "1.0",
        "mode": "change",
        "recipient": {"org_her_id": 85217, "service_her_id": 122612},
        "sender": {"org_number": oslo.org_number, "municipality_number": "0301"},
        "system": {"name": "Gerica", "version": "1"},
        "records": [
            {
                "record_id": "r1",
                "operation": "upsert",
                "patient_ref": "p1",
                "event_date": timezone.localdate().isoformat(),
                "service_code": "6",
                "municipality_number": "0301",
            }
        ],
    }
    outcome = submission_receive(
        body=json.dumps(message).encode(), sender=Sender(org_numbers=frozenset({oslo.org_number}))
    )
    assert outcome.http_status == 201 and Record.objects.exists()
    call_command("seed_demo", "--reset", "--submitters", "600", "--specialists", "50", "--records", "0")
    assert not Record.objects.exists()
    assert not Submission.objects.exists()
    assert Submitter.objects.count() == 600
