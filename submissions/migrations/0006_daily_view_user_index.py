"""The snapshot's copy of the records is looked up by user: (submitter, register, year, patient_ref), on
PostgreSQL covering the other columns so that the nightly run reads the index only. Django's
Index(include=...) would create no index at all on SQLite, hence SQL per database; submissions/snapshot.py
rebuilds the same index (USER_INDEX_SQL) after a full reload."""

from django.db import migrations

INDEX = "snapshot_record_user"
KEY = "submitter_id, register, year, patient_ref"
COVERED = "month, service_code, contact_kind, icd_chapter, first_received_at, last_received_at"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX {INDEX} ON submissions_snapshotrecord ({KEY}) INCLUDE ({COVERED})")
    else:
        schema_editor.execute(f"CREATE INDEX {INDEX} ON submissions_snapshotrecord ({KEY}, month)")


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ('submissions', '0005_daily_view_records'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='snapshotrecord',
            name='snapshot_record_cell',
        ),
        migrations.RunPython(create, drop),
    ]
