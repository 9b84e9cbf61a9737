"""PostgreSQL only: the snapshot's copy of the records is derived data, rebuilt from the records at any time,
so it is UNLOGGED (no write-ahead log for its 20+ million rows: a full rebuild loads it in about two thirds of
the time); after a crash PostgreSQL empties it, and the next nightly run then rebuilds everything
(submissions/snapshot.py). Its text keys and the month and year tables' keys compare bytewise (COLLATE "C"):
they are codes and pseudonymous references, never sorted for people, and sorting and indexing them with the
database's locale collation made the rebuild's index builds and aggregates a third slower."""

from django.db import migrations

COPY = "submissions_snapshotrecord"
C_COLUMNS = {
    COPY: {"register": 3, "patient_ref": 100, "service_code": 8, "contact_kind": 32, "icd_chapter": 8},
    "submissions_snapshotmonth": {"register": 3, "dimension": 16, "category": 32},
    "submissions_snapshotyear": {"register": 3, "dimension": 16, "category": 32},
}


def _collate(schema_editor, collation: str) -> None:
    for table, columns in C_COLUMNS.items():
        changes = ", ".join(
            f"ALTER COLUMN {column} TYPE varchar({length}) COLLATE {collation}" for column, length in columns.items()
        )
        schema_editor.execute(f"ALTER TABLE {table} {changes}")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {COPY} SET UNLOGGED")
    _collate(schema_editor, '"C"')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    _collate(schema_editor, '"default"')
    schema_editor.execute(f"ALTER TABLE {COPY} SET LOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0006_daily_view_user_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
