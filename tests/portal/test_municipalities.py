"""Municipality numbers are valid per year; the code list is imported from SSB's JSON."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from portal.models import Municipality
from portal.selectors import municipality_is_valid_in_year

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("number", "year", "valid"),
    [
        ("3001", 2023, True),  # Halden before the 2024 reform
        ("3001", 2024, False),
        ("3101", 2023, False),
        ("3101", 2024, True),  # Halden after the 2024 reform
        ("3024", 2022, True),  # Bærum in Viken
        ("3201", 2024, True),  # Bærum in Akershus
        ("0301", 2020, True),  # Oslo keeps its number
        ("0301", 2024, True),
        ("0219", 2020, False),  # Bærum's number before the 2020 reform: not in the shipped lists
        ("9999", 2024, False),
    ],
)
def test_number_validity_follows_the_reforms(number, year, valid):
    assert municipality_is_valid_in_year(number=number, year=year) is valid


def test_shipped_lists_are_loaded_by_migration():
    assert Municipality.objects.valid_in_year(2024).filter(valid_from__year=2024).count() == 357
    assert Municipality.objects.filter(valid_from__year=2020).count() == 356


def _klass(codes):
    return {"codes": codes}


def test_import_is_idempotent_and_updates_names(tmp_path, capsys):
    path = tmp_path / "klass.json"
    entry = {
        "code": "3101",
        "name": "Halden",
        "level": "1",
        "validFromInRequestedRange": "2024-01-01",
        "validToInRequestedRange": None,
    }
    path.write_text(json.dumps(_klass([entry])), encoding="utf-8")
    call_command("import_municipalities", str(path))
    assert "0 new, 1 updated" in capsys.readouterr().out
    entry["name"] = "Halden (ny)"
    new = {**entry, "code": "3199", "name": "Testkommune"}
    path.write_text(json.dumps(_klass([entry, new])), encoding="utf-8")
    call_command("import_municipalities", str(path))
    assert "1 new, 1 updated" in capsys.readouterr().out
    assert Municipality.objects.get(number="3101", valid_from="2024-01-01").name == "Halden (ny)"
    assert Municipality.objects.filter(number="3101").count() == 1


def test_import_of_a_broken_file_names_the_entry_and_field(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(_klass([{"code": "31", "name": "X", "validFrom": "2024-01-01"}])), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import_municipalities", str(path))
    assert "entry 0" in str(error.value) or "entry 1" in str(error.value)
    assert "code" in str(error.value)
    assert not Municipality.objects.filter(number="31").exists()
