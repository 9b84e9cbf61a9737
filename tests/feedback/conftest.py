"""Fixtures for feedback: a submitter with contacts of every routed type, live records written directly,
a real SMTP server on loopback, and a recorder for enqueued tasks."""

from __future__ import annotations

import datetime
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from portal.models import ServiceArea
from submissions.models import Record, Submission
from tests.factories import ContactFactory, EpjVendorFactory, MunicipalitySubmitterFactory, SubmitterFactory

YEAR = timezone.localdate().year - 1


@dataclass
class Enqueued:
    calls: list[tuple[str, tuple]] = field(default_factory=list)

    def ids(self, task: str) -> list[int]:
        return [args[0] for name, args in self.calls if name == task]


@pytest.fixture
def enqueued(monkeypatch) -> Enqueued:
    """Tasks the services enqueue, recorded instead of sent to the broker. Tests run in a transaction that
    is rolled back, so the on-commit hook runs at once here (test_queue.py checks the real hook)."""
    recorder = Enqueued()
    monkeypatch.setattr("feedback.services.queue.send", lambda name, *args: recorder.calls.append((name, args)))
    monkeypatch.setattr(
        "feedback.services.queue.transaction", SimpleNamespace(on_commit=lambda callback, **kwargs: callback())
    )
    return recorder


@dataclass
class People:
    submitter: Any
    technical: Any  # type 1, e-mail and mobile
    somatic: Any  # type 2
    vendor: Any  # type 15
    no_mobile: Any  # type 1, no mobile
    psychiatry: Any  # type 3: not a service area of this submitter


@pytest.fixture
def people(db) -> People:
    vendor = EpjVendorFactory(name="DIPS")
    submitter = SubmitterFactory(name="Dr. Hansen", epj_vendor=vendor, service_areas=[ServiceArea.SOMATIC])
    return People(
        submitter=submitter,
        technical=ContactFactory(submitter=submitter, name="Tore Teknisk", contact_types=[1], mobile="+4791111111"),
        somatic=ContactFactory(submitter=submitter, name="Sara Somatikk", contact_types=[2], mobile="+4792222222"),
        vendor=ContactFactory(submitter=submitter, name="Vera Leverandør", contact_types=[15], mobile="+4793333333"),
        no_mobile=ContactFactory(submitter=submitter, name="Nils Utenmobil", contact_types=[1], mobile=""),
        psychiatry=ContactFactory(submitter=submitter, name="Per Psyk", contact_types=[3], mobile="+4794444444"),
    )


def make_submission(
    submitter, *, register="NPR", kind="activity", status="accepted", findings=(), **extra
) -> Submission:
    findings = list(findings)
    receipt = {
        "message_id": str(uuid.uuid4()),
        "status": status,
        "received_at": timezone.now().isoformat(),
        "validate_only": False,
        "counts": {"received": len(findings), "invalid": sum(1 for f in findings if f["severity"] == "error")},
        "findings": findings,
    }
    return Submission.objects.create(
        submitter=submitter,
        message_id=uuid.UUID(receipt["message_id"]),
        client_org_number=submitter.org_number,
        body_sha256=uuid.uuid4().hex * 2,
        register=register,
        kind=kind,
        mode=Submission.Mode.CHANGE,
        status=status,
        received_at=timezone.now(),
        count_errors=sum(1 for f in findings if f["severity"] == "error"),
        count_warnings=sum(1 for f in findings if f["severity"] != "error"),
        receipt=receipt,
        **extra,
    )


def finding(rule_id: str, record_id: str | None = None, severity: str = "error", message: str = "Feil") -> dict:
    return {
        "rule_id": rule_id,
        "rule_version": 1,
        "severity": severity,
        "record_id": record_id,
        "path": "$.records[0]",
        "message": message,
    }


def add_records(
    submitter, rows: list[dict[str, Any]], *, register: str = "NPR", kind: str = "activity"
) -> list[Record]:
    """Write Record rows as intake leaves them. Each row: record_id, patient_ref, event_date and the category
    columns; `data` gets condition/procedure codes; `is_deleted` optional."""
    submission = make_submission(submitter, register=register, kind=kind)
    now = timezone.now()
    records = []
    for row in rows:
        data = {key: row[key] for key in ("condition_codes", "procedure_codes", "check") if key in row}
        data["patient_ref"] = row["patient_ref"]
        records.append(
            Record(
                submitter=submitter,
                register=register,
                kind=kind,
                record_id=row.get("record_id") or uuid.uuid4().hex[:12],
                patient_ref=row["patient_ref"],
                event_date=row.get("event_date"),
                service_code=row.get("service_code", ""),
                contact_kind=row.get("contact_kind", ""),
                icd_chapter=row.get("icd_chapter", ""),
                is_deleted=row.get("is_deleted", False),
                content_hash=hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(),
                data=data,
                first_received_at=now,
                last_received_at=now,
                last_submission=submission,
            )
        )
    return Record.objects.bulk_create(records)


def npr_row(patient: int, month: int, *, year: int = YEAR, kind: str = "outpatient", codes=("F32.1",), **extra):
    return {
        "patient_ref": f"p{patient}",
        "event_date": datetime.date(year, month, 1 + patient % 28),
        "contact_kind": kind,
        "icd_chapter": "V" if codes and codes[0].startswith("F") else "",
        "condition_codes": list(codes),
        "procedure_codes": ["ZXA10"],
        **extra,
    }


@pytest.fixture
def municipality(db):
    submitter = MunicipalitySubmitterFactory(name="Bærum kommune", municipality_number="3024")
    ContactFactory(submitter=submitter, name="Kari Kommune", contact_types=[1], mobile="+4795555555")
    return submitter


# -- a real SMTP server on loopback ---------------------------------------------------------------


@dataclass
class SmtpServer:
    host: str
    port: int
    messages: list[Any]


@pytest.fixture
def smtp_server(settings):
    """aiosmtpd on a free loopback port; Django's SMTP backend pointed at it."""
    import socket
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            received.append((envelope.rcpt_tos, message))
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield SmtpServer("127.0.0.1", port, received)
    finally:
        controller.stop()
