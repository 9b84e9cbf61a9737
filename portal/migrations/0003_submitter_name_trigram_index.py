"""PostgreSQL only: a trigram index so that name search (icontains) stays fast at 60,000 submitters.

Django's icontains compiles to UPPER("name"::text) LIKE UPPER(%s); the index is on that
exact expression. pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may
create it. SQLite (the zero-setup default) scans, which is fine at demo sizes.
"""

from __future__ import annotations

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS submitter_name_trgm ON portal_submitter USING gin (UPPER(name::text) gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS submitter_name_trgm"]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("portal", "0002_load_shipped_municipalities")]
    operations = [migrations.RunPython(forwards, backwards)]
