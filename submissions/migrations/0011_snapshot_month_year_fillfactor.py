"""PostgreSQL only: the snapshot's month and year rows are updated in place by the nightly run (about 1 % of them a
night). With room left on each page, such an update stays on its page and leaves the two indexes alone (a HOT
update); at the default fillfactor of 100 a freshly rebuilt table has none, and every update also inserted into both
indexes. submissions/table_swap.py carries the setting over when a full rebuild swaps in new tables."""

from django.db import migrations

TABLES = ("submissions_snapshotmonth", "submissions_snapshotyear")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = 90)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0010_records_without_duplicate_indexes"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
