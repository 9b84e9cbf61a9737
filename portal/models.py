"""Who reports: submitters, their contact persons, EPJ vendors, municipalities and memberships."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.validators import (
    ChoiceSubsetValidator,
    validate_norwegian_mobile,
    validate_org_number,
)


class Register(models.TextChoices):
    NPR = "NPR", _("NPR – Norwegian Patient Registry")
    KPR = "KPR", _("KPR – Municipal Patient and User Registry")


class ContactType(models.IntegerChoices):
    """The registry's contact person types, as reported in the message."""

    TECHNICAL = 1, _("1 Technical production")
    SOMATIC = 2, _("2 Somatic specialist health service")
    ADULT_MENTAL_HEALTH = 3, _("3 Adult mental health care")
    CHILD_MENTAL_HEALTH = 4, _("4 Child and adolescent psychiatry")
    EPJ_VENDOR = 15, _("15 EPJ vendor, message validation")


class ServiceArea(models.TextChoices):
    SOMATIC = "somatic", _("Somatic health care")
    ADULT_MENTAL_HEALTH = "adult_mental_health", _("Adult mental health care")
    CHILD_MENTAL_HEALTH = "child_mental_health", _("Child and adolescent mental health care")
    MUNICIPAL_CARE = "municipal_care", _("Municipal health and care services")


class EpjVendor(models.Model):
    """A patient-record (EPJ) system vendor that reports on behalf of its customers."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    org_number = models.CharField(_("organisation number"), max_length=9, unique=True, validators=[validate_org_number])

    class Meta:
        ordering = ["name"]
        verbose_name = _("EPJ vendor")
        verbose_name_plural = _("EPJ vendors")

    def __str__(self) -> str:
        return self.name


class MunicipalityQuerySet(models.QuerySet):
    def valid_on(self, day: datetime.date) -> MunicipalityQuerySet:
        return self.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day), valid_from__lte=day)

    def valid_in_year(self, year: int) -> MunicipalityQuerySet:
        """Numbers valid at any time during the year (the registry's "valid in the reporting year")."""
        return self.filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=datetime.date(year, 1, 1)),
            valid_from__lte=datetime.date(year, 12, 31),
        )


class Municipality(models.Model):
    """One version of a municipality number (SSB classification 131); valid_to is exclusive."""

    number = models.CharField(_("municipality number"), max_length=4)
    name = models.CharField(_("name"), max_length=200)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to (exclusive)"), null=True, blank=True)

    objects = MunicipalityQuerySet.as_manager()

    class Meta:
        ordering = ["number", "valid_from"]
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")
        constraints = [
            models.UniqueConstraint(fields=["number", "valid_from"], name="municipality_number_version"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="municipality_valid_to_after_from",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class Submitter(models.Model):
    """An organisation that reports to NPR and/or KPR."""

    class Kind(models.TextChoices):
        MUNICIPALITY = "municipality", _("Municipality")
        HEALTH_TRUST = "health_trust", _("Health trust")
        PRIVATE_INSTITUTION = "private_institution", _("Private institution")
        CONTRACT_SPECIALIST = "contract_specialist", _("Contract specialist")
        OTHER_PRIVATE = "other_private", _("Other private provider")

    class Sector(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    sector = models.CharField(_("public or private"), max_length=16, choices=Sector.choices)
    org_number = models.CharField(_("organisation number"), max_length=9, unique=True, validators=[validate_org_number])
    her_id = models.PositiveIntegerField(_("HER-id"), null=True, blank=True, unique=True)
    reports_npr = models.BooleanField(_("reports to NPR"), default=False)
    reports_kpr = models.BooleanField(_("reports to KPR"), default=False)
    service_areas = models.JSONField(
        _("service areas"),
        default=list,
        blank=True,
        validators=[ChoiceSubsetValidator(ServiceArea.values)],
    )
    municipality_number = models.CharField(_("municipality number"), max_length=4, blank=True)
    epj_vendor = models.ForeignKey(
        EpjVendor,
        verbose_name=_("EPJ vendor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("submitter")
        verbose_name_plural = _("submitters")
        indexes = [
            models.Index(fields=["name", "id"], name="submitter_name_idx"),
            models.Index(fields=["kind", "name"], name="submitter_kind_name_idx"),
            models.Index(fields=["municipality_number"], name="submitter_municipality_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="municipality") | ~Q(municipality_number=""),
                name="submitter_municipality_has_number",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, object] = {}
        if self.kind == self.Kind.MUNICIPALITY:
            if not self.municipality_number:
                errors["municipality_number"] = _("A municipality must have its municipality number.")
            elif not Municipality.objects.filter(number=self.municipality_number).exists():
                errors["municipality_number"] = _(
                    "%(number)s is not a municipality number in Statistics Norway's code list."
                ) % {"number": self.municipality_number}
        elif self.municipality_number:
            errors["municipality_number"] = _("Only municipalities have a municipality number.")
        if self.kind in (self.Kind.MUNICIPALITY, self.Kind.HEALTH_TRUST) and self.sector != self.Sector.PUBLIC:
            errors["sector"] = _("Municipalities and health trusts are public.")
        if errors:
            raise ValidationError(errors)

    @property
    def registers(self) -> list[str]:
        return [
            register
            for register, reports in ((Register.NPR, self.reports_npr), (Register.KPR, self.reports_kpr))
            if reports
        ]

    def get_registers_display(self) -> str:
        return ", ".join(str(Register(register).label) for register in self.registers)

    def get_service_areas_display(self) -> str:
        return ", ".join(str(ServiceArea(area).label) for area in self.service_areas)


class ContactPerson(models.Model):
    """A person who receives the submitter's feedback (archive by e-mail, password by SMS)."""

    class Source(models.TextChoices):
        MESSAGE = "message", _("Reported in a message")
        PORTAL = "portal", _("Entered in the portal")

    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("e-mail"), blank=True)
    # E.164 (+47XXXXXXXX); blank when none was reported.
    mobile = models.CharField(_("mobile"), max_length=16, blank=True, validators=[validate_norwegian_mobile])
    contact_types = models.JSONField(
        _("contact types"),
        default=list,
        validators=[ChoiceSubsetValidator(ContactType.values, allow_empty=False)],
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.PORTAL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("contact person")
        verbose_name_plural = _("contact persons")

    def __str__(self) -> str:
        return self.name

    def get_contact_types_display(self) -> str:
        return ", ".join(str(ContactType(value).label) for value in sorted(self.contact_types))


class User(AbstractUser):
    """A person using the portal. Submitter access comes from memberships or a role."""

    class RegistryRole(models.TextChoices):
        NONE = "", _("None")
        STAFF = "staff", _("Registry staff")
        ADMIN = "admin", _("Registry administrator")

    registry_role = models.CharField(
        _("registry role"), max_length=16, choices=RegistryRole.choices, blank=True, default=""
    )
    epj_vendor = models.ForeignKey(
        EpjVendor,
        verbose_name=_("works for EPJ vendor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
    )

    @property
    def is_registry_staff(self) -> bool:
        return self.registry_role in (self.RegistryRole.STAFF, self.RegistryRole.ADMIN)

    @property
    def is_registry_admin(self) -> bool:
        return self.registry_role == self.RegistryRole.ADMIN


class Membership(models.Model):
    """The user acts for the submitter; one person may act for several submitters."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    submitter = models.ForeignKey(Submitter, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "submitter"], name="membership_user_submitter"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.submitter}"


class Heartbeat(models.Model):
    """Last time a background process proved it runs (beat → worker), shown on the health page."""

    name = models.CharField(max_length=64, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


# -- sign-in and audit ----------------------------------------------------------------------------


class ExternalIdentity(models.Model):
    """A person at an OpenID Connect provider (HelseID), mapped to a portal user.

    `subject_hash` is a keyed hash (HMAC with IDENTITY_HASH_KEY) of the person's identifier: HelseID's
    national identity number claim (`pid`) when present, else the provider's `sub`. The number itself is
    never stored.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(_("issuer"), max_length=200)
    subject_hash = models.CharField(_("subject (keyed hash)"), max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(_("last sign-in"), null=True, blank=True)

    class Meta:
        verbose_name = _("external identity")
        verbose_name_plural = _("external identities")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject_hash"], name="external_identity_issuer_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.issuer}"


class AuditEventKind(models.TextChoices):
    """What happened. Others record their own kinds through `portal.audit.record(request, kind, ...)`."""

    SIGN_IN = "sign_in", _("Signed in")
    SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
    SIGN_OUT = "sign_out", _("Signed out")
    SESSION_EXPIRED = "session_expired", _("Session expired")
    AUTHORIZATION_FAILED = "authorization_failed", _("Access refused")
    RATE_LIMITED = "rate_limited", _("Too many attempts")
    SUBMITTER_VIEWED = "submitter_viewed", _("Submitter page viewed")
    SUBMISSIONS_VIEWED = "submissions_viewed", _("Submission list viewed")
    RECEIPT_VIEWED = "receipt_viewed", _("Receipt viewed")
    DOWNLOAD = "download", _("File downloaded")
    EXTENSION_DECIDED = "extension_decided", _("Extension decided")
    PASSWORD_RESENT = "password_resent", _("Feedback password sent again")
    AUDIT_LOG_VIEWED = "audit_log_viewed", _("Audit log searched")


class AuditEventQuerySet(models.QuerySet):
    """Append-only: rows are inserted and read, never changed or removed through the ORM."""

    def update(self, **kwargs: object) -> int:
        raise AuditLogIsAppendOnly("Audit events cannot be changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")

    def _raw_delete(self, using: str) -> int:
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")

    def bulk_update(self, objs: object, fields: object, batch_size: int | None = None) -> int:
        raise AuditLogIsAppendOnly("Audit events cannot be changed.")


class AuditLogIsAppendOnly(Exception):
    pass


class AuditEvent(models.Model):
    """One entry of the audit log: who did what, when and from where.

    Users and submitters are kept as plain ids with a copy of the name, not as foreign keys: the log
    outlives them, and deleting a user or a submitter must never touch (or be blocked by) the log.
    Details never hold a password, a token or a national identity number (portal.audit scrubs them).
    """

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    # No `choices` here: apps add kinds without a migration; AuditEventKind names the known ones.
    kind = models.CharField(_("event"), max_length=32)
    user_id = models.BigIntegerField(_("user id"), null=True, blank=True)
    username = models.CharField(_("user"), max_length=150, blank=True)
    submitter_id = models.BigIntegerField(_("submitter id"), null=True, blank=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    method = models.CharField(_("HTTP method"), max_length=8, blank=True)
    path = models.CharField(_("path"), max_length=500, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["kind", "at"], name="audit_kind_at_idx"),
            models.Index(fields=["user_id", "at"], name="audit_user_at_idx"),
            models.Index(fields=["submitter_id", "at"], name="audit_submitter_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind} {self.username}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None or kwargs.get("force_update"):
            raise AuditLogIsAppendOnly("Audit events cannot be changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("Audit events cannot be deleted.")

    def get_kind_display(self) -> str:
        try:
            return str(AuditEventKind(self.kind).label)
        except ValueError:
            return self.kind
