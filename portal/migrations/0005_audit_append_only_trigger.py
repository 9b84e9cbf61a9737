"""PostgreSQL only: the database itself refuses UPDATE and DELETE on the audit log.

The model and its queryset already refuse both through the ORM; the trigger also stops raw SQL and
anyone with the application's database role. TRUNCATE is left alone: the test runner empties
tables with it, and only the table's owner may run it. SQLite (development) has no trigger: its
test flush deletes rows, which a trigger would block.
"""

from __future__ import annotations

from django.db import migrations

CREATE = [
    """
    CREATE OR REPLACE FUNCTION portal_auditevent_append_only() RETURNS trigger AS $$
    BEGIN
        -- The message is concatenated: a percent sign would be taken for a driver placeholder.
        RAISE EXCEPTION USING
            MESSAGE = 'portal_auditevent is append-only: ' || TG_OP || ' refused',
            ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS portal_auditevent_append_only ON portal_auditevent",
    """
    CREATE TRIGGER portal_auditevent_append_only
        BEFORE UPDATE OR DELETE ON portal_auditevent
        FOR EACH ROW EXECUTE FUNCTION portal_auditevent_append_only()
    """,
]
DROP = [
    "DROP TRIGGER IF EXISTS portal_auditevent_append_only ON portal_auditevent",
    "DROP FUNCTION IF EXISTS portal_auditevent_append_only()",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("portal", "0004_audit_and_external_identity")]
    operations = [migrations.RunPython(forwards, backwards)]
