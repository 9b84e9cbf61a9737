"""Code lists the intake rules check against: KPR service codes, NPR contact kinds, ICD-10.

Pure data and functions. The KPR list follows the registry's service types (IPLOS/KPR
"tjenestetyper"); codes 12 and 13 (housing, replaced by 29) and 16 (rehabilitation
outside institutions, now reported as a personal attribute) expired from 2019.
Codes 17 and up are this portal's working list until the registry's published code
list is loaded in their place; the rules only need code, name and expiry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceCode:
    code: str
    name: str
    expired_from_year: int | None = None
    replaced_by: str | None = None


KPR_SERVICE_CODES: dict[str, ServiceCode] = {
    c.code: c
    for c in [
        ServiceCode("1", "Praktisk bistand: daglige gjøremål"),
        ServiceCode("2", "Praktisk bistand: opplæring i dagliglivets gjøremål"),
        ServiceCode("3", "Praktisk bistand: brukerstyrt personlig assistanse"),
        ServiceCode("4", "Dagaktivitetstilbud"),
        ServiceCode("5", "Matombringing"),
        ServiceCode("6", "Trygghetsalarm"),
        ServiceCode("7", "Støttekontakt"),
        ServiceCode("8", "Avlastning utenfor institusjon"),
        ServiceCode("9", "Omsorgsstønad"),
        ServiceCode("10", "Helsetjenester i hjemmet"),
        ServiceCode("11", "Avlastning i institusjon"),
        ServiceCode("12", "Bolig som kommunen disponerer til pleie- og omsorgsformål", 2019, "29"),
        ServiceCode("13", "Annen bolig med heldøgns omsorgstjenester", 2019, "29"),
        ServiceCode("14", "Tidsbegrenset opphold i institusjon"),
        ServiceCode("15", "Langtidsopphold i institusjon"),
        ServiceCode("16", "Rehabilitering utenfor institusjon", 2019),
        ServiceCode("17", "Individuell plan"),
        ServiceCode("18", "Koordinator"),
        ServiceCode("19", "Dagopphold i institusjon"),
        ServiceCode("20", "Nattopphold i institusjon"),
        ServiceCode("21", "Kommunal øyeblikkelig hjelp døgnopphold"),
        ServiceCode("22", "Brukerstyrt personlig assistanse etter helse- og omsorgstjenesteloven"),
        ServiceCode("23", "Omsorgsstønad til pårørende"),
        ServiceCode("24", "Helsestasjonstjeneste"),
        ServiceCode("25", "Skolehelsetjeneste"),
        ServiceCode("26", "Fysioterapi"),
        ServiceCode("27", "Ergoterapi"),
        ServiceCode("28", "Psykisk helsearbeid og rusarbeid"),
        ServiceCode("29", "Bolig som kommunen disponerer til helse- og omsorgsformål"),
        ServiceCode("30", "Lokaliseringsteknologi"),
        ServiceCode("31", "Elektronisk medisineringsstøtte"),
        ServiceCode("32", "Digitalt tilsyn"),
    ]
}

NPR_CONTACT_KINDS: dict[str, str] = {
    "outpatient": "Poliklinisk kontakt",
    "admission": "Innleggelse (døgnopphold)",
    "day_patient": "Dagbehandling",
    "indirect": "Indirekte pasientkontakt",
}

# ICD-10 as the registries receive it: a letter, two digits, optionally a dot and up to 4 more characters.
ICD10_PATTERN = re.compile(r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?$")

# Chapter boundaries (first code of each chapter), WHO ICD-10.
_ICD10_CHAPTERS = [
    ("A00", "I"),
    ("C00", "II"),
    ("D50", "III"),
    ("E00", "IV"),
    ("F00", "V"),
    ("G00", "VI"),
    ("H00", "VII"),
    ("H60", "VIII"),
    ("I00", "IX"),
    ("J00", "X"),
    ("K00", "XI"),
    ("L00", "XII"),
    ("M00", "XIII"),
    ("N00", "XIV"),
    ("O00", "XV"),
    ("P00", "XVI"),
    ("Q00", "XVII"),
    ("R00", "XVIII"),
    ("S00", "XIX"),
    ("U00", "XXII"),
    ("V01", "XX"),
    ("Z00", "XXI"),
]


def is_icd10_code(code: str) -> bool:
    return bool(ICD10_PATTERN.match(code))


def icd10_chapter(code: str) -> str:
    """The roman-numeral chapter of an ICD-10 code ('' when it is not a code)."""
    if not is_icd10_code(code):
        return ""
    head = code[:3]
    chapter = ""
    for first, name in _ICD10_CHAPTERS:
        if head >= first:
            chapter = name
    return chapter
