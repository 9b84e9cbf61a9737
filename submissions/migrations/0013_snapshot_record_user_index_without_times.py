"""PostgreSQL only: the copy's index by user no longer covers the records' received times. The nightly run no
longer reads them from it, since it recounts a month's first and last received times from the live records (only
a refresh of one submitter reads them, from the table): they made the index a quarter larger (1.9 GB for 23
million records), its build in a full rebuild longer and the nightly run's reads of the changed users' rows wider.
A full rebuild builds its new copy's indexes as the live ones are defined (submissions/table_swap.py), so this
definition carries over."""

from django.db import migrations

INDEX = "snapshot_record_user"
TABLE = "submissions_snapshotrecord"
KEY = "submitter_id, register, year, patient_ref"
COVERED = "record_id, month, service_code, contact_kind, icd_chapter"
TIMES = "first_received_at, last_received_at"


def _replace(schema_editor, covered: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    # Sorting 23 million entries in the server's default memory (often 64 MB) takes minutes; a full rebuild uses 1 GB.
    schema_editor.execute("SET LOCAL maintenance_work_mem = '1GB'")
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(f"CREATE INDEX {INDEX} ON {TABLE} ({KEY}) INCLUDE ({covered})")


def forwards(apps, schema_editor):
    _replace(schema_editor, COVERED)


def backwards(apps, schema_editor):
    _replace(schema_editor, f"{COVERED}, {TIMES}")


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0012_snapshot_record_user_index_with_record_id"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
