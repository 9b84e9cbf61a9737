"""PostgreSQL: fill a table beside a live one and swap it in before the commit.

A full snapshot rebuild replaces every row of its tables. Deleting and re-inserting millions of rows maintains
their unique indexes row by row and queues a deferred foreign-key check per row for the commit; a table filled
without keys and given them afterwards (one sorted index build, one foreign-key validation) takes a fraction of
that. The live table stays readable meanwhile: pages keep reading the old rows until the swap, which drops it and
gives the new table its name, its constraints' and indexes' names and its identity sequence's name, so that
Django and later migrations find the table they know. Only the swap, the last step, locks the live table.

The new table belongs to the role that runs the rebuild (the application's own, as for migrations); privileges
granted on the old table to other roles are not carried over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Suffix of the table being built and of its keys until the swap (names stay within PostgreSQL's 63 bytes).
_NEXT = "_next"


def next_name(name: str) -> str:
    return f"{name[: 63 - len(_NEXT)]}{_NEXT}"


@dataclass
class _Definition:
    unlogged: bool
    # Storage parameters, e.g. ["fillfactor=90"].
    options: list[str]
    # (name, type with modifiers, collation or None, not null)
    columns: list[tuple[str, str, str | None, bool]]
    checks: list[tuple[str, str]]
    # Primary key and unique constraints: (name, definition); their indexes carry the same name.
    keys: list[tuple[str, str]]
    # Their indexes' definitions (from USING on), by constraint name.
    key_indexes: dict[str, str]
    foreign_keys: list[tuple[str, str]]
    # Foreign keys checked at the commit (Django's): (name, ...).
    deferred: list[str]
    # Indexes that belong to no constraint: (name, definition from USING on).
    indexes: list[tuple[str, str, bool]]
    # Identity columns: (column, sequence name).
    sequences: list[tuple[str, str]] = field(default_factory=list)


def _definition(cursor: Any, table: str) -> _Definition:
    cursor.execute("SELECT relpersistence = 'u', reloptions FROM pg_class WHERE oid = %s::regclass", [table])
    unlogged, options = cursor.fetchone()
    cursor.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
        "CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(c.collname) END, a.attnotnull, a.attidentity "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_collation c ON c.oid = a.attcollation "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [table],
    )
    rows = cursor.fetchall()
    columns = [(name, type_, collation, not_null) for name, type_, collation, not_null, _identity in rows]
    identities = [name for name, *_rest, identity in rows if identity]
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid), condeferred, "
        "CASE WHEN conindid <> 0 THEN pg_get_indexdef(conindid) END FROM pg_constraint "
        "WHERE conrelid = %s::regclass ORDER BY contype, conname",
        [table],
    )
    rows = cursor.fetchall()
    constraints = [(name, kind, definition, deferred) for name, kind, definition, deferred, _index in rows]
    key_indexes = {name: index[index.index(" USING ") :] for name, kind, _def, _deferred, index in rows if kind in "pu"}
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid), x.indisunique FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid) "
        "ORDER BY i.relname",
        [table],
    )
    indexes = [
        (name, definition[definition.index(" USING ") :], unique) for name, definition, unique in cursor.fetchall()
    ]
    sequences = []
    for column in identities:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        sequences.append((column, cursor.fetchone()[0]))
    return _Definition(
        unlogged=unlogged,
        options=list(options or []),
        columns=columns,
        checks=[(name, definition) for name, kind, definition, _deferred in constraints if kind == "c"],
        keys=[(name, definition) for name, kind, definition, _deferred in constraints if kind in ("p", "u")],
        key_indexes=key_indexes,
        foreign_keys=[(name, definition) for name, kind, definition, _deferred in constraints if kind == "f"],
        deferred=[name for name, kind, _definition, deferred in constraints if kind == "f" and deferred],
        indexes=indexes,
        sequences=sequences,
    )


def _with(definition: _Definition) -> str:
    return f" WITH ({', '.join(definition.options)})" if definition.options else ""


def create_like(cursor: Any, live: str) -> str:
    """An empty table beside `live` with its columns, defaults, identity, NOT NULL and CHECK constraints (rows
    are checked as they come) and storage parameters, without keys or indexes. Returns its name."""
    fresh = next_name(live)
    definition = _definition(cursor, live)
    persistence = "UNLOGGED " if definition.unlogged else ""
    cursor.execute(f"DROP TABLE IF EXISTS {fresh}")
    cursor.execute(
        f"CREATE {persistence}TABLE {fresh} (LIKE {live} INCLUDING DEFAULTS INCLUDING IDENTITY "
        f"INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION){_with(definition)}"
    )
    return fresh


def create_as(cursor: Any, live: str, select: str, params: list[Any]) -> str:
    """A table beside `live` with `select`'s rows (its columns named as `live`'s), built by CREATE TABLE AS,
    which, unlike INSERT ... SELECT, may read with parallel workers. Columns get `live`'s types, collations,
    NOT NULL and CHECK constraints, the table its storage parameters; no keys or indexes yet. Returns its name."""
    definition = _definition(cursor, live)
    fresh = next_name(live)
    columns = ", ".join(
        f"CAST(n.{name} AS {type_}){f' COLLATE {collation}' if collation else ''} AS {name}"
        for name, type_, collation, _not_null in definition.columns
    )
    persistence = "UNLOGGED " if definition.unlogged else ""
    cursor.execute(f"DROP TABLE IF EXISTS {fresh}")
    cursor.execute(
        f"CREATE {persistence}TABLE {fresh}{_with(definition)} AS SELECT {columns} FROM ({select}) n",  # noqa: S608
        params,
    )
    # One ALTER TABLE: PostgreSQL checks all of them in a single pass over the rows.
    constraints = [
        f"ALTER COLUMN {name} SET NOT NULL" for name, _type, _collation, not_null in definition.columns if not_null
    ]
    constraints += [f"ADD CONSTRAINT {name} {check}" for name, check in definition.checks]
    if constraints:
        cursor.execute(f"ALTER TABLE {fresh} {', '.join(constraints)}")
    return fresh


def build_keys(cursor: Any, live: str, fresh: str, *, readable: bool = False) -> None:
    """Give `fresh` (filled) `live`'s primary key, unique constraints and indexes under temporary names, then
    analyse it. `live` is neither locked nor changed. `readable`: others may read `fresh` while its indexes are
    built (CREATE INDEX), the keys' included; each key becomes a constraint on its index at the end, which waits for
    those readers (ALTER TABLE). A key in a tablespace of its own is built as a constraint at once all the same (an
    index's definition does not carry it)."""
    definition = _definition(cursor, live)
    later = [(name, key) for name, key in definition.keys if readable and "USING INDEX TABLESPACE" not in key]
    for name, key in definition.keys:
        if (name, key) in later:
            cursor.execute(f"CREATE UNIQUE INDEX {next_name(name)} ON {fresh} {definition.key_indexes[name]}")
        else:
            cursor.execute(f"ALTER TABLE {fresh} ADD CONSTRAINT {next_name(name)} {key}")
    for name, index, unique in definition.indexes:
        cursor.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {next_name(name)} ON {fresh} {index}")
    for name, key in later:
        kind = "PRIMARY KEY" if key.startswith("PRIMARY KEY") else "UNIQUE"
        # The index's definition has no deferrability: the key's own gives it ("DEFERRABLE INITIALLY DEFERRED").
        deferrable = key[key.index("DEFERRABLE") :] if "DEFERRABLE" in key else ""
        cursor.execute(
            f"ALTER TABLE {fresh} ADD CONSTRAINT {next_name(name)} {kind} USING INDEX {next_name(name)} {deferrable}"
        )
    cursor.execute(f"ANALYZE {fresh}")


def add_foreign_keys(cursor: Any, pairs: list[tuple[str, str]]) -> None:
    """The swap's first half: give each `fresh` (its keys built) its `live`'s foreign keys, their rows checked.
    Locks the referenced tables against writes (not reads) until the commit, which is why it comes just before
    take_over and the commit."""
    for live, fresh in pairs:
        for name, foreign_key in _definition(cursor, live).foreign_keys:
            # The same name is free: a foreign key's name is unique per table only.
            cursor.execute(f"ALTER TABLE {fresh} ADD CONSTRAINT {name} {foreign_key}")


def take_over(cursor: Any, pairs: list[tuple[str, str]]) -> None:
    """The swap's second half: drop each `live` and give its `fresh` (keys and foreign keys added) its name and its
    keys', indexes' and identity sequences' names. Locks the live tables, and the tables their foreign keys refer to,
    until the commit; readers then see the new rows.

    All foreign keys are added (and their rows checked, add_foreign_keys) before, and every table is locked in one
    statement, the live ones first, before any is dropped: dropping a table with a foreign key locks the referenced
    table (the submitters) exclusively, and a page's query that reads a snapshot table and then the submitters would
    deadlock with a swap that held the submitters while it waited for that snapshot table. Taken in the LOCK, all the
    waits are in that one statement (see `lock_timeout`)."""
    definitions = [_definition(cursor, live) for live, _fresh in pairs]
    lives = [live for live, _fresh in pairs]
    cursor.execute(
        "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid = ANY(%s::regclass[]) AND NOT confrelid = ANY(%s::regclass[]) ORDER BY 1",
        [lives, lives],
    )
    referenced = [table for (table,) in cursor.fetchall()]
    cursor.execute(f"LOCK TABLE {', '.join([*lives, *referenced])} IN ACCESS EXCLUSIVE MODE")
    for (live, fresh), definition in zip(pairs, definitions, strict=True):
        _replace(cursor, live, fresh, definition)


def _replace(cursor: Any, live: str, fresh: str, definition: _Definition) -> None:
    fresh_sequences = []
    for column, _sequence in definition.sequences:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [fresh, column])
        fresh_sequences.append(cursor.fetchone()[0])
    if definition.deferred:
        # Rows the caller wrote to `live` earlier in this transaction have their checks queued for the commit, and
        # PostgreSQL refuses to drop a table with queued checks: run them now, then defer the constraints (the
        # new table's carry the same names) again.
        names = ", ".join(definition.deferred)
        cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
        cursor.execute(f"SET CONSTRAINTS {names} DEFERRED")
    cursor.execute(f"DROP TABLE {live}")
    cursor.execute(f"ALTER TABLE {fresh} RENAME TO {live}")
    for name, _key in definition.keys:
        cursor.execute(f"ALTER TABLE {live} RENAME CONSTRAINT {next_name(name)} TO {name}")
    for name, _index, _unique in definition.indexes:
        cursor.execute(f"ALTER INDEX {next_name(name)} RENAME TO {name}")
    for (_column, sequence), fresh_sequence in zip(definition.sequences, fresh_sequences, strict=True):
        cursor.execute(f"ALTER SEQUENCE {fresh_sequence} RENAME TO {sequence.split('.')[-1]}")
