"""PostgreSQL only: the copy's index by user also covers record_id. The nightly run reads the changed users' copies
with their record ids (to leave out the copies of the changed records); without the id in the index, every one of
those rows was fetched from the table, at random: 175,000 heap fetches for a day's changes, 3-4 s when the copy's
pages were not in memory. A full rebuild builds its new copy's indexes as the live ones are defined
(submissions/table_swap.py), so this definition carries over."""

from django.db import migrations

INDEX = "snapshot_record_user"
TABLE = "submissions_snapshotrecord"
KEY = "submitter_id, register, year, patient_ref"
COVERED = "month, service_code, contact_kind, icd_chapter, first_received_at, last_received_at"


def _replace(schema_editor, covered: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(f"CREATE INDEX {INDEX} ON {TABLE} ({KEY}) INCLUDE ({covered})")


def forwards(apps, schema_editor):
    _replace(schema_editor, f"record_id, {COVERED}")


def backwards(apps, schema_editor):
    _replace(schema_editor, COVERED)


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0011_snapshot_month_year_fillfactor"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
