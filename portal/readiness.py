"""Which feedback can reach someone who can open it.

The registry e-mails every feedback as an encrypted archive and sends the
password by SMS, so a contact needs both an e-mail address and a valid Norwegian
mobile number. Routing by contact type follows the registry's published rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from portal.lib.norway import is_valid_norwegian_mobile
from portal.models import ContactPerson, ContactType, ServiceArea, Submitter


class FeedbackKind(models.TextChoices):
    IDENT = "ident", _("Identity check (ident)")
    ACTIVITY = "activity", _("Activity (Excel workbook)")
    SCHEMA_VALIDATION = "schema_validation", _("Schema validation (VAL)")
    CONTENT_VALIDATION = "content_validation", _("Content validation (ERR)")


# Activity feedback also goes to the contact type of each service area the submitter has.
SERVICE_AREA_CONTACT_TYPE = {
    ServiceArea.SOMATIC: ContactType.SOMATIC,
    ServiceArea.ADULT_MENTAL_HEALTH: ContactType.ADULT_MENTAL_HEALTH,
    ServiceArea.CHILD_MENTAL_HEALTH: ContactType.CHILD_MENTAL_HEALTH,
}


def routed_contact_types(submitter: Submitter, kind: str) -> tuple[int, ...]:
    """Contact types that receive this kind of feedback for this submitter."""
    if kind in (FeedbackKind.SCHEMA_VALIDATION, FeedbackKind.CONTENT_VALIDATION):
        # "Skjemavalidering og innholdsvalidering blir kun sendt til kontakttype 1 og 15."
        return (ContactType.TECHNICAL, ContactType.EPJ_VENDOR)
    if kind == FeedbackKind.IDENT:
        return (ContactType.TECHNICAL,)
    if kind == FeedbackKind.ACTIVITY:
        extra = [
            SERVICE_AREA_CONTACT_TYPE[ServiceArea(area)]
            for area in submitter.service_areas
            if area in SERVICE_AREA_CONTACT_TYPE
        ]
        return tuple(sorted({ContactType.TECHNICAL, *extra}))
    raise ValueError(f"Unknown feedback kind {kind!r}")


def routed_contacts(submitter: Submitter, kind: str, contacts: Iterable[ContactPerson]) -> list[ContactPerson]:
    types = set(routed_contact_types(submitter, kind))
    return [contact for contact in contacts if types.intersection(contact.contact_types)]


def can_open_feedback(contact: ContactPerson) -> bool:
    return bool(contact.email) and is_valid_norwegian_mobile(contact.mobile)


@dataclass
class KindReadiness:
    kind: FeedbackKind
    contact_types: tuple[int, ...]
    can_open: list[ContactPerson] = field(default_factory=list)
    without_mobile: list[ContactPerson] = field(default_factory=list)
    without_email: list[ContactPerson] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return bool(self.can_open)

    @property
    def types_display(self) -> str:
        numbers = [str(int(t)) for t in self.contact_types]
        if len(numbers) == 1:
            return numbers[0]
        return _("%(first)s or %(last)s") % {"first": ", ".join(numbers[:-1]), "last": numbers[-1]}

    @property
    def message(self) -> str:
        if self.ready:
            return ngettext(
                "%(count)d contact can receive and open this feedback.",
                "%(count)d contacts can receive and open this feedback.",
                len(self.can_open),
            ) % {"count": len(self.can_open)}
        return _(
            "No contact of type %(types)s with an e-mail address and a valid Norwegian mobile number: "
            "%(kind)s feedback cannot be opened."
        ) % {"types": self.types_display, "kind": self.kind.label}


def feedback_readiness(submitter: Submitter, contacts: Iterable[ContactPerson] | None = None) -> list[KindReadiness]:
    contacts = list(submitter.contacts.all() if contacts is None else contacts)
    result = []
    for kind in FeedbackKind:
        readiness = KindReadiness(kind=kind, contact_types=routed_contact_types(submitter, kind))
        for contact in routed_contacts(submitter, kind, contacts):
            if not contact.email:
                readiness.without_email.append(contact)
            elif not is_valid_norwegian_mobile(contact.mobile):
                readiness.without_mobile.append(contact)
            else:
                readiness.can_open.append(contact)
        result.append(readiness)
    return result
