"""PostgreSQL only: an index on submissions the deliveries per deadline read alone.

The deliveries' rule (submissions.daily_overview.delivery_sql) reads each expected submitter's accepted messages for a
deadline's register and kinds. By submitter alone that fetched each of the submitter's messages from this wide table:
for a nightly run's few thousand submitters with news, some 80,000 scattered pages (600 MB at a million messages),
seconds when they were not cached. This index covers the columns the rule reads (78 MB at a million messages).

SQLite has no covering indexes (Django would warn, models.W040, and build it without the covered columns), and its
installations are small: it is left out there. Building it blocks the intake's inserts for a few seconds at a million
messages."""

from django.db import migrations

INDEX = "submission_delivery"
TABLE = "submissions_submission"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX {INDEX} ON {TABLE} (submitter_id, register, kind) "
            "INCLUDE (status, validate_only, mode, period_start, period_end, received_at)"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("submissions", "0015_snapshot_record_user_index_category_keys"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
