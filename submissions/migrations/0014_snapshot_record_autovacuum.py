"""PostgreSQL only: autovacuum visits the snapshot's copy after every nightly run, not after a fifth of it changed.

A nightly run deletes and inserts the copies of a day's changed records (about 60,000 of 23 million). The pages it
writes are no longer known to be visible to all until a vacuum marks them, and those are the pages of the users who
report daily: the next night's index-only lookups of their rows fetch them from the table. With the default scale
factors (20 %) autovacuum would come after two months of nights. A threshold of its own brings it within minutes of
each run. A full rebuild gives its new copy the live table's storage parameters (submissions/table_swap.py)."""

from django.db import migrations

TABLE = "submissions_snapshotrecord"
OPTIONS = {
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_vacuum_threshold": "10000",
    "autovacuum_vacuum_insert_scale_factor": "0",
    "autovacuum_vacuum_insert_threshold": "10000",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        settings = ", ".join(f"{name} = {value}" for name, value in OPTIONS.items())
        schema_editor.execute(f"ALTER TABLE {TABLE} SET ({settings})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} RESET ({', '.join(OPTIONS)})")


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0013_snapshot_record_user_index_without_times"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
