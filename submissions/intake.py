"""Receiving a message: validate it, version its records, store the submission, answer with a receipt.

One function, `submission_receive`, serves the API, the portal's "Test a message" page
and the benchmarks. Records are applied in bulk (a handful of queries per message,
whatever its size) inside one transaction that holds a lock on the submitter, so that
concurrent messages from one sender are applied in order and retries are idempotent.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pydantic
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.lib.identity import IdentityCheck, check_identity_number, identity_hash
from portal.lib.norway import NumberError, is_valid_norwegian_mobile, is_valid_org_number, normalize_org_number
from portal.models import ContactType, Municipality, Register, Submitter
from portal.services import contacts_replace_reported
from submissions import versioning
from submissions.codes import KPR_SERVICE_CODES, NPR_CONTACT_KINDS, icd10_chapter, is_icd10_code
from submissions.models import MessageKind, RecordVersion, Submission
from submissions.rules import Findings, schema_problem
from submissions.schema import SUPPORTED_SCHEMA_VERSIONS, ActivityRecord, IdentRecord, Message, json_path
from submissions.signals import submission_received


@dataclass(frozen=True)
class Sender:
    """Who is sending, as far as intake needs to know: organisations the credentials speak for."""

    org_numbers: frozenset[str]
    client_id: str = ""
    # Portal users testing a message: the submitters they may act for (None = decided by org numbers).
    submitter_ids: frozenset[int] | None = None


@dataclass
class Outcome:
    http_status: int
    receipt: dict[str, Any] | None = None
    error: str = ""
    detail: str = ""
    submission_id: int | None = None


class ActivityMessage(Message):
    records: list[ActivityRecord]  # type: ignore[assignment]


class IdentMessage(Message):
    records: list[IdentRecord]  # type: ignore[assignment]


@dataclass
class Counts:
    received: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    invalid: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


# -- entry point ---------------------------------------------------------------------------------


def submission_receive(
    *,
    body: bytes,
    sender: Sender,
    validate_only: bool = False,
    store: bool = True,
    channel: str = Submission.Channel.API,
    now: datetime.datetime | None = None,
) -> Outcome:
    """Validate a message and, unless it is validation-only or rejected, apply its records.

    `store=False` (the portal's test page) runs every rule and stores nothing at all.
    """
    now = now or timezone.now()
    try:
        # Strict UTF-8 first: json.loads would also guess UTF-16/32 and pass encoded surrogates, which
        # pydantic then refuses. ValueError covers integers beyond Python's digit limit; RecursionError
        # deeply nested arrays.
        raw = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as error:
        return Outcome(400, error="invalid_json", detail=_json_error_detail(error))
    body_sha256 = hashlib.sha256(body).hexdigest()
    findings = Findings()
    message = _parse(body, raw, findings)
    if message is None:
        return _schema_rejection(raw, findings, sender, body_sha256, validate_only, store, channel, now)

    submitter = _submitter_for(message.sender.org_number, findings)
    if submitter is None:
        receipt = _receipt(str(message.message_id), "rejected", now, validate_only, Counts(), findings)
        return Outcome(422, receipt=receipt)
    if not _may_send_for(sender, submitter):
        return Outcome(
            403,
            error="forbidden_sender",
            detail=f"Klienten kan ikke sende for organisasjonsnummer {submitter.org_number}.",
        )

    validate_only = validate_only or _addressed_to_validation(message)
    if not store:
        return _evaluate(message, submitter, sender, findings, body_sha256, validate_only, channel, now, write=False)
    try:
        with transaction.atomic():
            # Serialise intake per submitter: record versions and idempotency checks stay consistent.
            Submitter.objects.select_for_update().only("id").get(pk=submitter.pk)
            if not validate_only:
                previous = _previous(sender, message.message_id)
                if previous is not None:
                    return _replay(previous, body_sha256)
            outcome = _evaluate(
                message, submitter, sender, findings, body_sha256, validate_only, channel, now, write=True
            )
            submission_id = outcome.submission_id
            transaction.on_commit(lambda: submission_received.send(sender=Submission, submission_id=submission_id))
    except IntegrityError:
        # The lock is per submitter: a vendor's messages with one message_id for two customers can pass
        # the lookup at the same time, and the unique key lets one through. Answer the other as a retry.
        previous = _previous(sender, message.message_id)
        if previous is None:
            raise
        return _replay(previous, body_sha256)
    return outcome


# -- parsing -------------------------------------------------------------------------------------


def _json_error_detail(error: Exception) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"Meldingen er ikke gyldig JSON: {error.msg} (linje {error.lineno}, kolonne {error.colno})."
    if isinstance(error, UnicodeDecodeError):
        return "Meldingen er ikke gyldig UTF-8-tekst."
    if isinstance(error, RecursionError):
        return "Meldingen er ikke gyldig JSON: den er nøstet for dypt."
    return "Meldingen er ikke gyldig JSON: et tall er for langt."


# After strict UTF-8 decoding, a NUL or an unpaired surrogate can only come from a \u escape.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _unstorable_text(raw: Any) -> str | None:
    """The JSON path of the first key or string holding a NUL or an unpaired surrogate, if any.

    Neither can be stored (PostgreSQL refuses NUL in text and jsonb) or encoded as UTF-8 in the receipt.
    Iterative, because the document may be nested as deep as json.loads allows.
    """
    stack: list[tuple[Any, str]] = [(raw, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if not _storable(node):
                return path
        elif isinstance(node, dict):
            for key, value in node.items():
                if not _storable(key):
                    return path
                stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{index}]") for index, value in enumerate(node))
    return None


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def _parse(body: bytes, raw: Any, findings: Findings) -> Message | None:
    if _SUSPECT_ESCAPE.search(body) and (path := _unstorable_text(raw)) is not None:
        findings.add("SCHEMA-001", path=path, problem="teksten inneholder et NUL-tegn eller ugyldig Unicode")
        return None
    kind = raw.get("kind") if isinstance(raw, dict) else None
    model = {"activity": ActivityMessage, "ident": IdentMessage}.get(kind if isinstance(kind, str) else None, Message)
    try:
        message = model.model_validate_json(body)
    except pydantic.ValidationError as error:
        for item in error.errors(include_url=False):
            path = json_path(item["loc"])
            findings.add(
                "SCHEMA-001", path=path, record_id=_record_id_at(raw, item["loc"]), problem=schema_problem(item)
            )
        return None
    if len(message.records) > settings.INTAKE_MAX_RECORDS:
        findings.add("SCHEMA-001", path="$.records", problem=f"maks {settings.INTAKE_MAX_RECORDS} poster per melding")
        return None
    return message


def _record_id_at(raw: Any, location: tuple[Any, ...]) -> str | None:
    if len(location) >= 2 and location[0] == "records" and isinstance(location[1], int):
        try:
            record = raw["records"][location[1]]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(record, dict) and isinstance(record.get("record_id"), str):
            return record["record_id"]
    return None


def _schema_rejection(
    raw: Any,
    findings: Findings,
    sender: Sender,
    body_sha256: str,
    validate_only: bool,
    store: bool,
    channel: str,
    now: datetime.datetime,
) -> Outcome:
    """422: keep the rejected message when its sender can be identified, so schema feedback can go out."""
    envelope = raw if isinstance(raw, dict) else {}
    message_id = _uuid_or_none(envelope.get("message_id"))
    sender_block = envelope.get("sender") if isinstance(envelope.get("sender"), dict) else {}
    org_number = sender_block.get("org_number") if isinstance(sender_block.get("org_number"), str) else None
    receipt = _receipt(str(message_id) if message_id else None, "rejected", now, validate_only, Counts(), findings)
    submitter = _submitter_for(org_number, Findings()) if org_number else None
    if not store or message_id is None or submitter is None or not _may_send_for(sender, submitter):
        return Outcome(422, receipt=receipt)
    try:
        with transaction.atomic():
            Submitter.objects.select_for_update().only("id").get(pk=submitter.pk)
            if not validate_only:
                previous = _previous(sender, message_id)
                if previous is not None:
                    outcome = _replay(previous, body_sha256)
                    if outcome.http_status == 200:
                        outcome.http_status = 422
                    return outcome
            submission = Submission.objects.create(
                submitter=submitter,
                message_id=message_id,
                client_org_number=_client_org(sender, submitter),
                client_id=sender.client_id,
                body_sha256=body_sha256,
                register=_choice(envelope.get("register"), Register.values),
                kind=_choice(envelope.get("kind"), MessageKind.values),
                mode=_choice(envelope.get("mode"), Submission.Mode.values),
                channel=channel,
                schema_version=_schema_version_text(envelope.get("schema_version")),
                status=Submission.Status.REJECTED,
                validate_only=validate_only,
                received_at=now,
                count_errors=findings.errors,
                count_warnings=findings.warnings,
                receipt=receipt,
            )
            transaction.on_commit(lambda: submission_received.send(sender=Submission, submission_id=submission.pk))
    except IntegrityError:
        # As in submission_receive: the same client's message_id was taken for another submitter meanwhile.
        previous = _previous(sender, message_id)
        if previous is None:
            raise
        return _replay(previous, body_sha256)
    return Outcome(422, receipt=receipt, submission_id=submission.pk)


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _schema_version_text(value: Any) -> str:
    # Whatever the sender wrote, as far as it can be stored; the receipt's findings say what was wrong.
    text = str(value)[:16] if isinstance(value, str | int | float) else ""
    return text if _storable(text) else ""


def _choice(value: Any, allowed: Iterable[str]) -> str:
    return value if isinstance(value, str) and value in allowed else ""


# -- who sends -----------------------------------------------------------------------------------


def _submitter_for(org_number: str | None, findings: Findings) -> Submitter | None:
    try:
        org_number = normalize_org_number(org_number or "")
    except NumberError:
        findings.add("SENDER-001", path="$.sender.org_number", value=org_number)
        return None
    submitter = Submitter.objects.select_related("epj_vendor").filter(org_number=org_number).first()
    if submitter is None:
        findings.add("SENDER-002", path="$.sender.org_number", value=org_number)
    return submitter


def _may_send_for(sender: Sender, submitter: Submitter) -> bool:
    """The submitter itself, or the EPJ vendor that reports on its behalf."""
    if sender.submitter_ids is not None:
        return submitter.pk in sender.submitter_ids
    if submitter.org_number in sender.org_numbers:
        return True
    return submitter.epj_vendor is not None and submitter.epj_vendor.org_number in sender.org_numbers


def _addressed_to_validation(message: Message) -> bool:
    addresses = settings.REGISTER_SERVICE_HER_IDS.get(message.register_code, {})
    return message.recipient.service_her_id == addresses.get("validation")


def _previous(sender: Sender, message_id: uuid.UUID) -> Submission | None:
    return (
        Submission.objects.filter(client_org_number__in=sender.org_numbers, message_id=message_id, validate_only=False)
        .only("id", "body_sha256", "receipt")
        .first()
    )


def _replay(previous: Submission, body_sha256: str) -> Outcome:
    if previous.body_sha256 == body_sha256:
        return Outcome(200, receipt=previous.receipt, submission_id=previous.pk)
    return Outcome(
        409,
        error="message_id_reused",
        detail=(
            f"message_id {previous.receipt.get('message_id')} er allerede brukt for en annen melding. "
            "Bruk en ny message_id for nytt innhold."
        ),
    )


# -- rules and application -----------------------------------------------------------------------


def _evaluate(
    message: Message,
    submitter: Submitter,
    sender: Sender,
    findings: Findings,
    body_sha256: str,
    validate_only: bool,
    channel: str,
    now: datetime.datetime,
    *,
    write: bool,
) -> Outcome:
    today = timezone.localdate(now)
    _check_message(message, submitter, findings, today)
    _check_contacts(message, findings)
    counts = Counts(received=len(message.records))
    plan = versioning.Plan()
    if findings.rejects:
        status = Submission.Status.REJECTED
        counts.invalid = counts.received
    else:
        valid = _check_records(message, findings, today, production=not validate_only)
        counts.invalid = counts.received - len(valid)
        plan = _plan(message, submitter, valid, counts, findings)
        status = Submission.Status.ACCEPTED_WITH_ERRORS if findings.errors else Submission.Status.ACCEPTED
    receipt = _receipt(str(message.message_id), status, now, validate_only, counts, findings)
    if not write:
        return Outcome(201, receipt=receipt)
    submission = Submission.objects.create(
        submitter=submitter,
        message_id=message.message_id,
        client_org_number=_client_org(sender, submitter),
        client_id=sender.client_id,
        body_sha256=body_sha256,
        register=message.register_code,
        kind=message.kind,
        mode=message.mode,
        channel=channel,
        schema_version=message.schema_version,
        period_start=message.period.start if message.period else None,
        period_end=message.period.end if message.period else None,
        status=status,
        validate_only=validate_only,
        system_name=message.system.name,
        system_version=message.system.version,
        received_at=now,
        count_received=counts.received,
        count_created=counts.created,
        count_updated=counts.updated,
        count_deleted=counts.deleted,
        count_unchanged=counts.unchanged,
        count_invalid=counts.invalid,
        count_errors=findings.errors,
        count_warnings=findings.warnings,
        receipt=receipt,
    )
    if status != Submission.Status.REJECTED and not validate_only:
        versioning.apply(plan, scope=_scope(message, submitter), submission_id=submission.pk, now=now)
        if message.contacts:
            contacts_replace_reported(
                submitter=submitter,
                contacts=[
                    {"name": c.name, "email": c.email or "", "mobile": c.mobile or "", "contact_types": c.types}
                    for c in message.contacts
                ],
            )
    return Outcome(201, receipt=receipt, submission_id=submission.pk)


def _client_org(sender: Sender, submitter: Submitter) -> str:
    if submitter.org_number in sender.org_numbers:
        return submitter.org_number
    return min(sender.org_numbers) if sender.org_numbers else submitter.org_number


def _check_message(message: Message, submitter: Submitter, findings: Findings, today: datetime.date) -> None:
    if message.schema_version not in SUPPORTED_SCHEMA_VERSIONS:
        findings.add(
            "SCHEMA-002",
            path="$.schema_version",
            version=message.schema_version,
            supported=", ".join(SUPPORTED_SCHEMA_VERSIONS),
        )
    recipient = message.recipient
    if recipient.org_her_id in settings.RETIRED_REGISTRY_ORG_HER_IDS:
        findings.add(
            "RECIPIENT-001", path="$.recipient.org_her_id", old=recipient.org_her_id, new=settings.REGISTRY_ORG_HER_ID
        )
    elif recipient.org_her_id != settings.REGISTRY_ORG_HER_ID:
        findings.add(
            "RECIPIENT-002",
            path="$.recipient.org_her_id",
            given=recipient.org_her_id,
            expected=settings.REGISTRY_ORG_HER_ID,
        )
    addresses = settings.REGISTER_SERVICE_HER_IDS[message.register_code]
    if recipient.service_her_id not in addresses.values():
        findings.add(
            "RECIPIENT-003",
            path="$.recipient.service_her_id",
            given=recipient.service_her_id,
            register=message.register_code,
            production=addresses["production"],
            validation=addresses["validation"],
        )
    if message.sender.her_id is not None and submitter.her_id is not None and message.sender.her_id != submitter.her_id:
        findings.add(
            "SENDER-003",
            path="$.sender.her_id",
            given=message.sender.her_id,
            name=submitter.name,
            expected=submitter.her_id,
        )
    if message.period is not None:
        period = message.period
        if message.mode == Submission.Mode.FULL and (period.start.month, period.start.day) != (1, 1):
            findings.add("PERIOD-001", path="$.period.start", start=period.start.isoformat())
        if period.end < period.start or period.end.year != period.start.year or period.start > today:
            findings.add("PERIOD-002", path="$.period")
    year = message.period.start.year if message.period else today.year
    if submitter.kind == Submitter.Kind.MUNICIPALITY:
        number = message.sender.municipality_number
        if not number:
            findings.add("SENDER-005", path="$.sender.municipality_number")
        elif not _municipality_valid(number, year):
            findings.add("SENDER-004", path="$.sender.municipality_number", value=number, year=year)


def _check_contacts(message: Message, findings: Findings) -> None:
    allowed = set(ContactType.values)
    for index, contact in enumerate(message.contacts):
        path = f"$.contacts[{index}]"
        unknown = sorted(set(contact.types) - allowed)
        if unknown:
            findings.add("CONTACT-002", path=f"{path}.types", name=contact.name, types=unknown)
        feedback_types = sorted(set(contact.types) & {ContactType.TECHNICAL, ContactType.EPJ_VENDOR})
        if not feedback_types:
            continue
        problems = []
        if not contact.email or "@" not in contact.email:
            problems.append("E-postadresse mangler eller er ugyldig.")
        if not is_valid_norwegian_mobile(contact.mobile):
            problems.append("Mobilnummer mangler eller er ikke et norsk mobilnummer (8 sifre, begynner med 4 eller 9).")
        if problems:
            findings.add(
                "CONTACT-001",
                path=path,
                name=contact.name,
                types=" og ".join(str(int(t)) for t in feedback_types),
                problem=" ".join(problems),
            )


_municipality_cache: dict[tuple[str, int], tuple[bool, float]] = {}
MUNICIPALITY_CACHE_SECONDS = 300


def _municipality_valid(number: str, year: int) -> bool:
    # A per-process cache saves a query per record; entries expire so that a newly imported
    # code list (manage.py import_municipalities) takes effect within minutes, without a restart.
    key = (number, year)
    cached = _municipality_cache.get(key)
    if cached is None or time.monotonic() - cached[1] > MUNICIPALITY_CACHE_SECONDS:
        valid = Municipality.objects.valid_in_year(year).filter(number=number).exists()
        _municipality_cache[key] = cached = (valid, time.monotonic())
    return cached[0]


def _check_records(
    message: Message, findings: Findings, today: datetime.date, *, production: bool
) -> list[tuple[int, Any]]:
    """Record-level rules. Returns (index, record) for the records that may be applied."""
    valid: list[tuple[int, Any]] = []
    seen: set[str] = set()
    for index, record in enumerate(message.records):
        record_id = _record_id(record)
        before = findings.errors
        path = f"$.records[{index}]"
        if record_id in seen:
            findings.add("RECORD-001", record_id=record_id, path=f"{path}.record_id", record=record_id)
            continue
        seen.add(record_id)
        if isinstance(record, IdentRecord):
            _check_ident(record, record_id, path, findings, production=production)
        elif record.operation == "upsert":
            _check_activity(message, record, record_id, path, findings, today)
        if findings.errors == before:
            valid.append((index, record))
    return valid


def _record_id(record: ActivityRecord | IdentRecord) -> str:
    return record.record_id or record.patient_ref  # ident records default to their patient_ref


def _check_ident(record: IdentRecord, record_id: str, path: str, findings: Findings, *, production: bool) -> None:
    if record.operation != "upsert" or record.national_id is None:
        return
    check = check_identity_number(record.national_id)
    if check == IdentityCheck.SYNTHETIC:
        rule = "IDENT-002" if production else "IDENT-003"
        findings.add(rule, record_id=record_id, path=f"{path}.national_id", record=record_id)
    elif not check.acceptable_in_production:
        problem = {
            IdentityCheck.INVALID_FORMAT: "ikke 11 sifre",
            IdentityCheck.INVALID_CHECKSUM: "feil kontrollsiffer",
            IdentityCheck.INVALID_DATE: "ugyldig fødselsdato",
        }[check]
        findings.add("IDENT-001", record_id=record_id, path=f"{path}.national_id", record=record_id, problem=problem)


def _check_activity(
    message: Message, record: ActivityRecord, record_id: str, path: str, findings: Findings, today: datetime.date
) -> None:
    # Runs once per record (hundreds per message): attributes are read once, and the common case of a
    # valid record costs a few comparisons.
    period = message.period
    event_date, end_date = record.event_date, record.end_date
    for name, value in (("event_date", event_date), ("end_date", end_date)):
        if value is None:
            continue
        if value > today:
            findings.add("DATE-002", record_id=record_id, path=f"{path}.{name}", field=name, date=value.isoformat())
        elif period and not (period.start <= value <= period.end):
            findings.add(
                "DATE-001",
                record_id=record_id,
                path=f"{path}.{name}",
                field=name,
                date=value.isoformat(),
                start=period.start.isoformat(),
                end=period.end.isoformat(),
            )
    if end_date and event_date and end_date < event_date:
        findings.add(
            "DATE-003",
            record_id=record_id,
            path=f"{path}.end_date",
            end=end_date.isoformat(),
            start=event_date.isoformat(),
        )
    if record.provider_org_number is not None and not is_valid_org_number(record.provider_org_number):
        findings.add(
            "PROVIDER-001", record_id=record_id, path=f"{path}.provider_org_number", value=record.provider_org_number
        )
    if message.register_code == Register.KPR:
        service_code = record.service_code
        if _missing(service_code):
            _required(message, record_id, path, "service_code", findings)
        elif (code := KPR_SERVICE_CODES.get(service_code)) is None:
            findings.add("KPR-002", record_id=record_id, path=f"{path}.service_code", code=service_code)
        elif code.expired_from_year and event_date and event_date.year >= code.expired_from_year:
            advice = f"Bruk tjenestekode {code.replaced_by}." if code.replaced_by else ""
            findings.add(
                "KPR-001",
                record_id=record_id,
                path=f"{path}.service_code",
                code=code.code,
                name=code.name,
                year=code.expired_from_year,
                advice=advice,
            )
        municipality_number = record.municipality_number
        if _missing(municipality_number):
            _required(message, record_id, path, "municipality_number", findings)
        elif event_date and not _municipality_valid(municipality_number, event_date.year):
            findings.add(
                "KPR-003",
                record_id=record_id,
                path=f"{path}.municipality_number",
                value=municipality_number,
                year=event_date.year,
            )
    else:
        if _missing(record.contact_kind):
            _required(message, record_id, path, "contact_kind", findings)
        elif record.contact_kind not in NPR_CONTACT_KINDS:
            findings.add(
                "NPR-001",
                record_id=record_id,
                path=f"{path}.contact_kind",
                value=record.contact_kind,
                allowed=", ".join(NPR_CONTACT_KINDS),
            )
        if _missing(record.condition_codes):
            _required(message, record_id, path, "condition_codes", findings)
        else:
            for position, code in enumerate(record.condition_codes or []):
                if not is_icd10_code(code):
                    findings.add("ICD-001", record_id=record_id, path=f"{path}.condition_codes[{position}]", code=code)


def _missing(value: Any) -> bool:
    return value is None or value == [] or value == ""


def _required(message: Message, record_id: str, path: str, name: str, findings: Findings) -> None:
    findings.add(
        "RECORD-003",
        record_id=record_id,
        path=f"{path}.{name}",
        field=name,
        register=message.register_code,
        kind=message.kind,
    )


def _record_fields(message: Message, record: ActivityRecord | IdentRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data kept in the record, columns copied out for aggregation)."""
    if isinstance(record, IdentRecord):
        check = check_identity_number(record.national_id or "")
        data = {
            "patient_ref": record.patient_ref,
            "national_id_hmac": identity_hash(record.national_id or "", key=settings.IDENTITY_HASH_KEY.encode()),
            "check": str(check),
        }
        columns = {
            "patient_ref": record.patient_ref,
            "event_date": None,
            "end_date": None,
            "service_code": "",
            "contact_kind": "",
            "icd_chapter": "",
        }
        return data, columns
    data = record.model_dump(mode="json", exclude={"record_id", "operation"}, exclude_none=True)
    columns = {
        "patient_ref": record.patient_ref or "",
        "event_date": record.event_date,
        "end_date": record.end_date,
        "service_code": record.service_code or "",
        "contact_kind": record.contact_kind or "",
        "icd_chapter": icd10_chapter(record.condition_codes[0]) if record.condition_codes else "",
    }
    return data, columns


# json.dumps(data, sort_keys=True, separators=(",", ":")), without building an encoder per record.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _canonical_json(data: dict[str, Any]) -> str:
    """The record's data as stored and hashed: serialised once, sorted, so that its hash is stable."""
    return _CANONICAL_JSON.encode(data)


def _content_hash(data_json: str) -> str:
    return hashlib.sha256(data_json.encode()).hexdigest()


def _plan(
    message: Message,
    submitter: Submitter,
    valid: list[tuple[int, Any]],
    counts: Counts,
    findings: Findings,
) -> versioning.Plan:
    plan = versioning.Plan()
    ids = [_record_id(record) for _, record in valid]
    current = versioning.current_rows(_scope(message, submitter), ids)
    for index, record in valid:
        record_id = _record_id(record)
        row = current.get(record_id)
        if record.operation == "delete":
            if row is None or row.is_deleted:
                counts.unchanged += 1
                if row is None:
                    findings.add("RECORD-002", record_id=record_id, path=f"$.records[{index}]", record=record_id)
                continue
            row.version += 1
            row.is_deleted = True
            plan.deletes.append(row)
            plan.versions.append((row, RecordVersion.Operation.DELETE, row.content_hash, None))
            counts.deleted += 1
            continue
        data, columns = _record_fields(message, record)
        data_json = _canonical_json(data)
        content_hash = _content_hash(data_json)
        if row is None:
            row = versioning.Row(record_id, 1, False, content_hash, columns=columns, data=data, data_json=data_json)
            plan.creates.append(row)
            counts.created += 1
        elif row.is_deleted or row.content_hash != content_hash:
            row.version += 1
            row.is_deleted = False
            row.content_hash, row.columns, row.data, row.data_json = content_hash, columns, data, data_json
            plan.upserts.append(row)
            counts.updated += 1
        else:
            counts.unchanged += 1
            continue
        plan.versions.append((row, RecordVersion.Operation.UPSERT, content_hash, data))
    if message.mode == Submission.Mode.FULL and message.kind == MessageKind.ACTIVITY and message.period:
        # A full message is the whole truth for its period: what it no longer contains is deleted.
        # A record refused by a rule keeps its earlier version: the sender meant to report it.
        present = set(ids) | _invalid_ids(message, valid)
        for row in versioning.live_rows_in_period(_scope(message, submitter), message.period.start, message.period.end):
            if row.record_id in present:
                continue
            row.version += 1
            row.is_deleted = True
            plan.deletes.append(row)
            plan.versions.append((row, RecordVersion.Operation.DELETE, row.content_hash, None))
            counts.deleted += 1
    return plan


def _scope(message: Message, submitter: Submitter) -> dict[str, Any]:
    return {"submitter_id": submitter.pk, "register": message.register_code, "kind": message.kind}


def _invalid_ids(message: Message, valid: list[tuple[int, Any]]) -> set[str]:
    valid_indexes = {index for index, _ in valid}
    return {_record_id(r) for i, r in enumerate(message.records) if i not in valid_indexes}


# -- receipt -------------------------------------------------------------------------------------


def _receipt(
    message_id: str | None,
    status: str,
    now: datetime.datetime,
    validate_only: bool,
    counts: Counts,
    findings: Findings,
) -> dict[str, Any]:
    receipt = {
        "message_id": message_id,
        "status": str(status),
        "received_at": timezone.localtime(now).isoformat(),
        "validate_only": validate_only,
        "counts": counts.as_dict(),
        "findings": findings.items,
    }
    if findings.truncated:
        receipt["findings_truncated"] = findings.truncated
    return receipt
