"""Realistic demo data: every 2024 municipality, specialists, hospitals, private providers.

Organisation numbers, HER-ids, people and phone numbers are invented (but valid in
form); municipality names and numbers are Statistics Norway's. Bulk inserts keep
60,000 submitters within minutes.
"""

from __future__ import annotations

import datetime
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, models, transaction

from portal.models import (
    ContactPerson,
    ContactType,
    EpjVendor,
    Membership,
    Municipality,
    ServiceArea,
    Submitter,
    User,
)

BATCH = 5000
DEMO_USERNAMES = ["kommune", "spesialist", "leverandor", "fhi", "utenforstaende"]

KPR_VENDORS = ["Tieto Gerica", "Visma Profil", "CosDoc", "Extensor"]
NPR_VENDORS = ["DIPS", "Infodoc", "WebMed", "CGM Norge", "Pridok", "Aspit", "Metodika", "Pasientsky"]

HEALTH_TRUSTS = [
    "Oslo universitetssykehus HF",
    "Akershus universitetssykehus HF",
    "Sykehuset Østfold HF",
    "Sykehuset Innlandet HF",
    "Vestre Viken HF",
    "Sykehuset i Vestfold HF",
    "Sykehuset Telemark HF",
    "Sørlandet sykehus HF",
    "Helse Stavanger HF",
    "Helse Fonna HF",
    "Helse Bergen HF",
    "Helse Førde HF",
    "Helse Møre og Romsdal HF",
    "St. Olavs hospital HF",
    "Helse Nord-Trøndelag HF",
    "Helgelandssykehuset HF",
    "Nordlandssykehuset HF",
    "Universitetssykehuset Nord-Norge HF",
    "Finnmarkssykehuset HF",
    "Sunnaas sykehus HF",
]

PLACES = [
    "Fjord",
    "Vidde",
    "Nordlys",
    "Kyst",
    "Dal",
    "Bre",
    "Skog",
    "Elve",
    "Havn",
    "Fjell",
    "Lia",
    "Berg",
    "Strand",
    "Ås",
    "Vik",
    "Nes",
    "Holm",
    "Sund",
    "Eng",
    "Tind",
]
INSTITUTION_KINDS = ["klinikken", "rehabiliteringssenter", "helsesenter", "sykehuset", "behandlingssenter"]
PROVIDER_KINDS = [
    "fysioterapi",
    "psykologtjenester",
    "legesenter",
    "hjemmetjenester",
    "omsorg",
    "øyeklinikk",
    "hudklinikk",
    "ortopedi",
    "rusbehandling",
    "tannhelse",
]
SPECIALTIES = [
    ("psykiater", ServiceArea.ADULT_MENTAL_HEALTH),
    ("psykologspesialist", ServiceArea.ADULT_MENTAL_HEALTH),
    ("barne- og ungdomspsykiater", ServiceArea.CHILD_MENTAL_HEALTH),
    ("øyelege", ServiceArea.SOMATIC),
    ("hudlege", ServiceArea.SOMATIC),
    ("gynekolog", ServiceArea.SOMATIC),
    ("ØNH-spesialist", ServiceArea.SOMATIC),
    ("indremedisiner", ServiceArea.SOMATIC),
    ("revmatolog", ServiceArea.SOMATIC),
    ("nevrolog", ServiceArea.SOMATIC),
]
FIRST_NAMES = [
    "Anne",
    "Inger",
    "Kari",
    "Marit",
    "Ingrid",
    "Liv",
    "Eva",
    "Berit",
    "Astrid",
    "Bjørg",
    "Hilde",
    "Nina",
    "Ida",
    "Nora",
    "Emma",
    "Sara",
    "Jan",
    "Per",
    "Bjørn",
    "Ole",
    "Lars",
    "Kjell",
    "Knut",
    "Arne",
    "Svein",
    "Hans",
    "Geir",
    "Morten",
    "Jonas",
    "Mathias",
    "Ahmed",
    "Fatima",
    "Ali",
    "Maja",
    "Elias",
    "Ingvild",
    "Siri",
    "Tor",
]
LAST_NAMES = [
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Pedersen",
    "Nilsen",
    "Kristiansen",
    "Jensen",
    "Karlsen",
    "Johnsen",
    "Pettersen",
    "Eriksen",
    "Berg",
    "Haugen",
    "Hagen",
    "Johannessen",
    "Andreassen",
    "Jacobsen",
    "Dahl",
    "Jørgensen",
    "Halvorsen",
    "Henriksen",
    "Lund",
    "Sørensen",
    "Jakobsen",
    "Moen",
    "Gundersen",
    "Iversen",
    "Strand",
    "Solberg",
    "Svendsen",
    "Eide",
    "Knutsen",
    "Martinsen",
    "Paulsen",
    "Bakken",
    "Kristoffersen",
    "Mathisen",
    "Lie",
]


class OrgNumbers:
    """Hands out distinct, mod-11-valid organisation numbers (fictional, in the 9xx range)."""

    WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)

    def __init__(self, start: int, taken: set[str]) -> None:
        self.next_base = start
        self.taken = taken

    def __next__(self) -> str:
        while True:
            base = f"{self.next_base:08d}"
            self.next_base += 1
            remainder = sum(int(d) * w for d, w in zip(base, self.WEIGHTS, strict=True)) % 11
            check = 0 if remainder == 0 else 11 - remainder
            if check == 10:
                continue  # no valid check digit for this base
            number = base + str(check)
            if number not in self.taken:
                self.taken.add(number)
                return number

    def __iter__(self) -> Iterator[str]:
        return self


@dataclass
class DemoUser:
    username: str
    password: str
    role: str


class DemoSeeder:
    def __init__(self, *, submitters: int, specialists: int, seed: int = 2024) -> None:
        self.total = submitters
        self.specialists = specialists
        self.random = random.Random(seed)
        self.org_numbers = OrgNumbers(91_000_000, set(Submitter.objects.values_list("org_number", flat=True)))
        self.next_her_id = 800_000

    # -- helpers ---------------------------------------------------------------------------------
    def her_id(self) -> int:
        self.next_her_id += self.random.randint(1, 17)
        return self.next_her_id

    def person(self) -> str:
        return f"{self.random.choice(FIRST_NAMES)} {self.random.choice(LAST_NAMES)}"

    def mobile(self) -> str:
        prefix = self.random.choice(["9", "9", "9", "4"])
        second = self.random.choice("0123456789" if prefix == "9" else "01578")
        return f"+47{prefix}{second}{self.random.randrange(10**6):06d}"

    @staticmethod
    def email_for(name: str, domain: str) -> str:
        local = name.lower().replace(" ", ".")
        for a, b in (("æ", "ae"), ("ø", "o"), ("å", "a"), ("é", "e")):
            local = local.replace(a, b)
        return f"{local}@{domain}"

    # -- seeding ---------------------------------------------------------------------------------
    @transaction.atomic
    def run(self) -> list[DemoUser]:
        kpr_vendors, npr_vendors = self.seed_vendors()
        submitters = list(self.municipalities(kpr_vendors))
        submitters += list(self.health_trusts())
        submitters += list(self.contract_specialists(npr_vendors))
        submitters += list(self.private_institutions(npr_vendors))
        remaining = max(0, self.total - len(submitters))
        submitters += list(self.other_private(remaining, npr_vendors + kpr_vendors))
        for start in range(0, len(submitters), BATCH):
            Submitter.objects.bulk_create(submitters[start : start + BATCH], batch_size=BATCH)
        saved = list(Submitter.objects.only("id", "name", "kind", "service_areas").order_by("id"))
        self.seed_contacts(saved)
        return self.seed_users(kpr_vendors, npr_vendors)

    def seed_vendors(self) -> tuple[list[EpjVendor], list[EpjVendor]]:
        vendors = {
            name: EpjVendor.objects.get_or_create(name=name, defaults={"org_number": next(self.org_numbers)})[0]
            for name in KPR_VENDORS + NPR_VENDORS
        }
        return [vendors[n] for n in KPR_VENDORS], [vendors[n] for n in NPR_VENDORS]

    def municipalities(self, vendors: list[EpjVendor]) -> Iterator[Submitter]:
        today = datetime.date(2024, 6, 1)
        for municipality in Municipality.objects.valid_on(today).order_by("number"):
            yield Submitter(
                name=f"{municipality.name} kommune",
                kind=Submitter.Kind.MUNICIPALITY,
                sector=Submitter.Sector.PUBLIC,
                org_number=next(self.org_numbers),
                her_id=self.her_id(),
                reports_kpr=True,
                service_areas=[ServiceArea.MUNICIPAL_CARE],
                municipality_number=municipality.number,
                epj_vendor=self.random.choice(vendors),
            )

    def health_trusts(self) -> Iterator[Submitter]:
        dips = EpjVendor.objects.get(name="DIPS")
        for name in HEALTH_TRUSTS:
            yield Submitter(
                name=name,
                kind=Submitter.Kind.HEALTH_TRUST,
                sector=Submitter.Sector.PUBLIC,
                org_number=next(self.org_numbers),
                her_id=self.her_id(),
                reports_npr=True,
                service_areas=[ServiceArea.SOMATIC, ServiceArea.ADULT_MENTAL_HEALTH, ServiceArea.CHILD_MENTAL_HEALTH],
                epj_vendor=dips,
            )

    def contract_specialists(self, vendors: list[EpjVendor]) -> Iterator[Submitter]:
        for _ in range(self.specialists):
            title, area = self.random.choice(SPECIALTIES)
            yield Submitter(
                name=f"{title.capitalize()} {self.person()}",
                kind=Submitter.Kind.CONTRACT_SPECIALIST,
                sector=Submitter.Sector.PRIVATE,
                org_number=next(self.org_numbers),
                her_id=self.her_id(),
                reports_npr=True,
                service_areas=[area],
                epj_vendor=self.random.choice(vendors),
            )

    def private_institutions(self, vendors: list[EpjVendor]) -> Iterator[Submitter]:
        for index in range(40):
            place = PLACES[index % len(PLACES)]
            kind = INSTITUTION_KINDS[index % len(INSTITUTION_KINDS)]
            yield Submitter(
                name=f"{place}{kind} AS",
                kind=Submitter.Kind.PRIVATE_INSTITUTION,
                sector=Submitter.Sector.PRIVATE,
                org_number=next(self.org_numbers),
                her_id=self.her_id(),
                reports_npr=True,
                service_areas=self.random.sample(
                    [ServiceArea.SOMATIC, ServiceArea.ADULT_MENTAL_HEALTH, ServiceArea.CHILD_MENTAL_HEALTH],
                    k=self.random.randint(1, 2),
                ),
                epj_vendor=self.random.choice(vendors),
            )

    def other_private(self, count: int, vendors: list[EpjVendor]) -> Iterator[Submitter]:
        for index in range(count):
            municipal = self.random.random() < 0.3
            name = f"{self.random.choice(PLACES)} {self.random.choice(PROVIDER_KINDS)} {index + 1} AS"
            yield Submitter(
                name=name,
                kind=Submitter.Kind.OTHER_PRIVATE,
                sector=Submitter.Sector.PRIVATE,
                org_number=next(self.org_numbers),
                her_id=self.her_id() if self.random.random() < 0.6 else None,
                reports_kpr=municipal,
                reports_npr=not municipal,
                service_areas=[ServiceArea.MUNICIPAL_CARE] if municipal else [ServiceArea.SOMATIC],
                epj_vendor=self.random.choice(vendors) if self.random.random() < 0.9 else None,
            )

    def seed_contacts(self, submitters: list[Submitter]) -> None:
        """One to three contacts each; about one in ten lacks a mobile, one in eight lacks type 1."""
        area_types = {
            ServiceArea.SOMATIC: ContactType.SOMATIC,
            ServiceArea.ADULT_MENTAL_HEALTH: ContactType.ADULT_MENTAL_HEALTH,
            ServiceArea.CHILD_MENTAL_HEALTH: ContactType.CHILD_MENTAL_HEALTH,
        }
        batch: list[ContactPerson] = []
        for submitter in submitters:
            domain = f"virksomhet{submitter.id}.example.no"
            has_technical = self.random.random() >= 0.125
            for index in range(self.random.randint(1, 3)):
                name = self.person()
                if index == 0:
                    types = [ContactType.TECHNICAL] if has_technical else []
                    types += [area_types[a] for a in submitter.service_areas if a in area_types][:1]
                    types = types or [ContactType.SOMATIC]
                elif index == 1:
                    types = [ContactType.EPJ_VENDOR]
                else:
                    types = [self.random.choice([ContactType.SOMATIC, ContactType.ADULT_MENTAL_HEALTH])]
                batch.append(
                    ContactPerson(
                        submitter_id=submitter.id,
                        name=name,
                        email=self.email_for(name, domain),
                        mobile="" if self.random.random() < 0.1 else self.mobile(),
                        contact_types=sorted(int(t) for t in types),
                        source=self.random.choice([ContactPerson.Source.MESSAGE, ContactPerson.Source.PORTAL]),
                    )
                )
            if len(batch) >= BATCH:
                ContactPerson.objects.bulk_create(batch, batch_size=BATCH)
                batch = []
        ContactPerson.objects.bulk_create(batch, batch_size=BATCH)

    def seed_users(self, kpr_vendors: list[EpjVendor], npr_vendors: list[EpjVendor]) -> list[DemoUser]:
        oslo = Submitter.objects.get(municipality_number="0301")
        baerum = Submitter.objects.get(municipality_number="3201")
        specialist = Submitter.objects.filter(kind=Submitter.Kind.CONTRACT_SPECIALIST).order_by("id").first()
        vendor = oslo.epj_vendor
        accounts = [
            ("kommune", "Municipality staff (Oslo and Bærum)", {"first_name": "Kari", "last_name": "Nordmann"}),
            ("spesialist", "Contract specialist", {"first_name": "Per", "last_name": "Hansen"}),
            (
                "leverandor",
                f"EPJ vendor ({vendor.name})",
                {"first_name": "Lise", "last_name": "Berg", "epj_vendor": vendor},
            ),
            (
                "fhi",
                "Registry staff and administrator (also /admin/)",
                {
                    "first_name": "Tove",
                    "last_name": "Brekke",
                    "registry_role": User.RegistryRole.ADMIN,
                    "is_staff": True,
                    "is_superuser": True,
                },
            ),
            ("utenforstaende", "Outsider (no access to any submitter)", {"first_name": "Ola", "last_name": "Utenfor"}),
        ]
        result = []
        for username, role, fields in accounts:
            password = secrets.token_urlsafe(12)
            user, _created = User.objects.update_or_create(username=username, defaults=fields)
            user.set_password(password)
            user.save()
            result.append(DemoUser(username, password, role))
        Membership.objects.get_or_create(user=User.objects.get(username="kommune"), submitter=oslo)
        Membership.objects.get_or_create(user=User.objects.get(username="kommune"), submitter=baerum)
        if specialist:
            Membership.objects.get_or_create(user=User.objects.get(username="spesialist"), submitter=specialist)
        return result


def demo_seeded() -> bool:
    return User.objects.filter(username="fhi").exists() and Submitter.objects.exists()


def _tables_depending_on(model: type[models.Model]) -> list[type[models.Model]]:
    """Every model whose rows depend (transitively, by foreign key) on `model`, dependents first.

    Found by reflection, so that this module needs to know nothing of the apps that build on it.
    """
    order: list[type[models.Model]] = []

    def visit(current: type[models.Model]) -> None:
        relations = [f for f in current._meta.get_fields(include_hidden=True) if f.auto_created and not f.concrete]
        for relation in relations:
            dependent = relation.related_model
            if dependent not in order and dependent is not current:
                visit(dependent)
        if current not in order:
            order.append(current)

    visit(model)
    return order


def demo_reset() -> None:
    """Remove all submitters and everything that hangs on them (records, submissions, ...)."""
    tables = _tables_depending_on(Submitter)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Deferred foreign-key checks pending in this transaction would block TRUNCATE.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"TRUNCATE {', '.join(m._meta.db_table for m in tables)}")
        else:
            for model in tables:
                model.objects.all()._raw_delete(model.objects.db)
        User.objects.filter(username__in=DEMO_USERNAMES).delete()
        EpjVendor.objects.filter(name__in=KPR_VENDORS + NPR_VENDORS).delete()
