"""Writes for the who-reports domain. Keyword-only, validated, one transaction each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.utils import timezone

from portal.lib.norway import normalize_norwegian_mobile, normalize_org_number
from portal.models import ContactPerson, ContactType, EpjVendor, Membership, Municipality, Submitter, User
from portal.municipalities import MunicipalityCode


def _normalized_mobile(mobile: str) -> str:
    mobile = (mobile or "").strip()
    if not mobile:
        return ""
    # Invalid input is left as typed so that full_clean reports it with the user's own value.
    try:
        return normalize_norwegian_mobile(mobile)
    except ValueError:
        return mobile


@transaction.atomic
def contact_create(
    *,
    submitter: Submitter,
    name: str,
    email: str,
    mobile: str,
    contact_types: Sequence[int],
    source: str = ContactPerson.Source.PORTAL,
) -> ContactPerson:
    contact = ContactPerson(
        submitter=submitter,
        name=name.strip(),
        email=email.strip(),
        mobile=_normalized_mobile(mobile),
        contact_types=sorted({int(t) for t in contact_types}),
        source=source,
    )
    contact.full_clean()
    contact.save()
    return contact


@transaction.atomic
def contact_update(
    *, contact: ContactPerson, name: str, email: str, mobile: str, contact_types: Sequence[int]
) -> ContactPerson:
    contact.name = name.strip()
    contact.email = email.strip()
    contact.mobile = _normalized_mobile(mobile)
    contact.contact_types = sorted({int(t) for t in contact_types})
    contact.full_clean()
    contact.save()
    return contact


def contact_delete(*, contact: ContactPerson) -> None:
    contact.delete()


@transaction.atomic
def submitter_create(
    *,
    name: str,
    kind: str,
    sector: str,
    org_number: str,
    her_id: int | None = None,
    reports_npr: bool = False,
    reports_kpr: bool = False,
    service_areas: Iterable[str] = (),
    municipality_number: str = "",
    epj_vendor: EpjVendor | None = None,
) -> Submitter:
    try:
        org_number = normalize_org_number(org_number)
    except ValueError:
        pass  # full_clean reports it
    submitter = Submitter(
        name=name.strip(),
        kind=kind,
        sector=sector,
        org_number=org_number,
        her_id=her_id,
        reports_npr=reports_npr,
        reports_kpr=reports_kpr,
        service_areas=sorted(set(service_areas)),
        municipality_number=municipality_number,
        epj_vendor=epj_vendor,
    )
    submitter.full_clean()
    submitter.save()
    return submitter


def membership_grant(*, user: User, submitter: Submitter) -> Membership:
    membership, _ = Membership.objects.get_or_create(user=user, submitter=submitter)
    return membership


@transaction.atomic
def municipalities_import(*, codes: Iterable[MunicipalityCode]) -> tuple[int, int]:
    """Upsert code-list versions by (number, valid_from). Returns (created, updated)."""
    existing = {(m.number, m.valid_from): m for m in Municipality.objects.all()}
    new, changed = [], []
    for code in codes:
        current = existing.get((code.number, code.valid_from))
        if current is None:
            new.append(
                Municipality(number=code.number, name=code.name, valid_from=code.valid_from, valid_to=code.valid_to)
            )
        else:
            current.name, current.valid_to = code.name, code.valid_to
            changed.append(current)
    Municipality.objects.bulk_create(new)
    Municipality.objects.bulk_update(changed, ["name", "valid_to"], batch_size=500)
    return len(new), len(changed)


@transaction.atomic
def contacts_replace_reported(*, submitter: Submitter, contacts: Iterable[dict]) -> list[ContactPerson]:
    """Replace the contacts a submitter reported in its messages with the ones in the latest message.

    Contacts entered in the portal are left alone. Values that fail validation are kept
    out (a bad mobile is stored as none), so the readiness check shows the gap; the
    intake receipt has already warned about it.
    """
    allowed = set(ContactType.values)
    fresh = []
    for contact in contacts:
        types = sorted({int(t) for t in contact.get("contact_types", []) if int(t) in allowed})
        if not types:
            continue
        mobile = contact.get("mobile") or ""
        try:
            mobile = normalize_norwegian_mobile(mobile) if mobile else ""
        except ValueError:
            mobile = ""
        email = (contact.get("email") or "").strip()
        fresh.append(
            ContactPerson(
                submitter=submitter,
                name=(contact.get("name") or "").strip()[:200],
                email=email if "@" in email else "",
                mobile=mobile,
                contact_types=types,
                source=ContactPerson.Source.MESSAGE,
            )
        )

    # The same person reported again keeps their row (matched by e-mail, else by name), so that what
    # hangs on it — such as the month's password SMS — survives a change in the reported list.
    def identity(contact: ContactPerson) -> str:
        return f"email:{contact.email.lower()}" if contact.email else f"name:{contact.name.lower()}"

    current = {identity(c): c for c in submitter.contacts.filter(source=ContactPerson.Source.MESSAGE)}
    kept, created, changed = [], [], []
    for contact in fresh:
        existing = current.pop(identity(contact), None)
        if existing is None:
            created.append(contact)
            continue
        values = (contact.name, contact.email, contact.mobile, contact.contact_types)
        if (existing.name, existing.email, existing.mobile, existing.contact_types) != values:
            existing.name, existing.email, existing.mobile, existing.contact_types = values
            existing.updated_at = timezone.now()  # bulk_update does not apply auto_now
            changed.append(existing)
        kept.append(existing)
    if current:
        ContactPerson.objects.filter(pk__in=[c.pk for c in current.values()]).delete()
    if changed:
        ContactPerson.objects.bulk_update(changed, ["name", "email", "mobile", "contact_types", "updated_at"])
    return kept + ContactPerson.objects.bulk_create(created)
