"""Load the municipality code lists shipped with the portal (SSB classification 131).

Every database then knows the 2020–2023 and 2024 numbers, so that the rule
"the municipality number must be valid in the reporting year" works from the start.
"""

from __future__ import annotations

from django.db import migrations


def load(apps, schema_editor):
    from portal.municipalities import SHIPPED_FILES, load_klass_file

    Municipality = apps.get_model("portal", "Municipality")
    for path in SHIPPED_FILES:
        for code in load_klass_file(path):
            Municipality.objects.update_or_create(
                number=code.number,
                valid_from=code.valid_from,
                defaults={"name": code.name, "valid_to": code.valid_to},
            )


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
