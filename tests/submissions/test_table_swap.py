"""A full snapshot rebuild on PostgreSQL swaps new copy, month and year tables in for the live ones: afterwards the
tables must be what the migrations made them (names of keys and indexes, unlogged copy, bytewise keys, storage
parameters, deferred foreign keys), Django must keep working with them, and the nightly run must go on from them."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

import psycopg
import pytest
from django.db import connection

from submissions import snapshot, table_swap
from submissions.models import SnapshotDelivery, SnapshotMonth, SnapshotRecord, SnapshotYear
from submissions.snapshot import snapshot_rebuild, snapshot_update_changed
from tests.submissions.conftest import YEAR, kpr_record, npr_record
from tests.submissions.snapshot_support import assert_snapshot_matches_live, receive, table_oid, tables_left_behind

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only: SQLite deletes and inserts"),
]

TABLES = (SnapshotRecord._meta.db_table, SnapshotMonth._meta.db_table, SnapshotYear._meta.db_table)
DELIVERIES = SnapshotDelivery._meta.db_table


def _shape(table: str) -> dict:
    """Everything about a table a migration or Django relies on, without its identity (oid)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relpersistence, reloptions FROM pg_class WHERE oid = %s::regclass",
            [table],
        )
        persistence, options = cursor.fetchone()
        cursor.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), c.collname, a.attnotnull, a.attidentity "
            "FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [table],
        )
        columns = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), condeferrable, condeferred FROM pg_constraint "
            "WHERE conrelid = %s::regclass ORDER BY conname",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT a.attname, pg_get_serial_sequence(%s, a.attname) FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attidentity <> ''",
            [table, table],
        )
        sequences = cursor.fetchall()
    return {
        "persistence": persistence,
        "options": options,
        "columns": columns,
        "constraints": constraints,
        "indexes": indexes,
        "sequences": sequences,
    }


def _other_connection() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )


def _advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_rebuild_swaps_in_tables_shaped_as_the_migrations_made_them(world):
    receive(world.municipality, [kpr_record("a"), kpr_record("b", service_code="6", patient_ref="p2")])
    before = {table: _shape(table) for table in TABLES}
    oids = {table: table_oid(table) for table in TABLES}

    snapshot_rebuild()

    assert {table: table_oid(table) for table in TABLES} != oids, "the rebuild should have swapped new tables in"
    assert {table: _shape(table) for table in TABLES} == before
    assert before[SnapshotRecord._meta.db_table]["persistence"] == "u"
    assert before[SnapshotMonth._meta.db_table]["options"] == ["fillfactor=90"]
    # Autovacuum after every nightly run (migration 0014), on the swapped-in copy too.
    assert "autovacuum_vacuum_insert_threshold=10000" in before[SnapshotRecord._meta.db_table]["options"]
    assert tables_left_behind() == 0, "nothing of the build is left beside the tables"
    assert_snapshot_matches_live()


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_deliveries_are_swapped_in_too_shaped_as_before(world):
    """The worker's way: the copy committed first, the deliveries built in a thread; all four tables come out new and
    as the migrations made them."""
    receive(world.municipality, [kpr_record("a"), kpr_record("b", service_code="6", patient_ref="p2")])
    tables = (*TABLES, DELIVERIES)
    before = {table: _shape(table) for table in tables}
    oids = {table: table_oid(table) for table in tables}

    snapshot_rebuild()

    after = {table: table_oid(table) for table in tables}
    assert [table for table in tables if after[table] == oids[table]] == [], "every table should be a new one"
    assert {table: _shape(table) for table in tables} == before
    assert tables_left_behind() == 0
    assert_snapshot_matches_live()


def test_the_nightly_run_drops_what_a_rebuild_that_died_left_behind(world):
    """A worker killed between the rebuild's transactions leaves what it committed (the copy, deliveries, month and
    year tables, work tables) beside the live tables; the next nightly run drops them."""
    receive(world.municipality, [kpr_record("a")])
    snapshot_rebuild()
    watermark = SnapshotYear.objects.get(dimension="total").last_received_at
    with connection.cursor() as cursor:
        for table in (*TABLES, DELIVERIES, "snap_rebuild_months", "snap_rebuild_users"):
            cursor.execute(f"CREATE TABLE {table}_next (LIKE {SnapshotMonth._meta.db_table})")
    assert tables_left_behind() == 6

    snapshot_update_changed(since=watermark)

    assert tables_left_behind() == 0
    assert_snapshot_matches_live()


def test_the_nightly_run_and_django_keep_working_on_the_swapped_tables(world):
    receive(world.municipality, [kpr_record("a")])
    snapshot_rebuild()
    snapshot_rebuild()  # twice: the second swaps out tables the first swapped in
    watermark = SnapshotYear.objects.get(dimension="total").last_received_at

    receive(world.municipality, [kpr_record("b", patient_ref="p-new", service_code="6")])
    snapshot_update_changed(since=watermark)

    # New rows get ids from the swapped-in identity sequence, beside the rebuilt ones.
    assert SnapshotMonth.objects.filter(dimension="service_code", category="6").exists()
    ids = list(SnapshotMonth.objects.values_list("id", flat=True))
    assert len(ids) == len(set(ids))
    total = SnapshotYear.objects.get(dimension="total")
    assert (total.records, total.users) == (2, 2)
    assert SnapshotRecord.objects.count() == 2
    assert_snapshot_matches_live()


def test_a_rebuild_after_the_nightly_run_in_the_same_transaction_swaps_despite_queued_checks(world):
    """The nightly run's inserts queue deferred foreign-key checks; dropping a table with queued checks fails."""
    receive(world.municipality, [kpr_record("a")])
    snapshot_rebuild()
    watermark = SnapshotYear.objects.get(dimension="total").last_received_at
    # Another year: new month and year rows.
    receive(world.municipality, [kpr_record("b", event_date=f"{YEAR - 1}-03-01")])
    snapshot_update_changed(since=watermark)

    snapshot_rebuild()

    assert SnapshotYear.objects.filter(year=YEAR - 1, dimension="total").exists()
    assert_snapshot_matches_live()


@pytest.mark.django_db(transaction=True)
def test_the_swap_locks_the_snapshot_tables_before_the_submitters(world):
    """Dropping a table with a foreign key locks the referenced table (portal_submitter) exclusively. A page's query
    reads a snapshot table and then, in a subquery, the submitters (the staff overview's largest changes): if the
    rebuild held the submitters while waiting for that snapshot table, the two would deadlock."""
    receive(world.municipality, [kpr_record("a")])
    snapshot_rebuild()
    page_started, errors = threading.Event(), []

    def page() -> None:
        try:
            with _other_connection() as page_connection:
                page_connection.execute("SELECT count(*) FROM submissions_snapshotyear")
                page_started.set()
                for _attempt in range(200):  # until the rebuild waits for the year table
                    waiting = page_connection.execute(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                        [SnapshotYear._meta.db_table],
                    ).fetchone()[0]
                    if waiting:
                        break
                    time.sleep(0.05)
                page_connection.execute("SET LOCAL lock_timeout = '10s'")
                page_connection.execute("SELECT count(*) FROM portal_submitter")
        except Exception as error:  # reported to the test's thread
            errors.append(error)
            page_started.set()

    thread = threading.Thread(target=page)
    thread.start()
    try:
        assert page_started.wait(10)
        snapshot_rebuild()
    finally:
        thread.join(30)
    assert errors == []
    assert_snapshot_matches_live()


def _spy_on_the_counts(monkeypatch) -> list[tuple]:
    """(copy, vacuumed, pages, pages visible to all) each time the users are counted from a copy."""
    seen = []
    count = snapshot._count_users

    def spy(cursor, copy, *, vacuumed, **kwargs):
        cursor.execute("SELECT relpages, relallvisible FROM pg_class WHERE oid = %s::regclass", [copy])
        seen.append((copy, vacuumed, *cursor.fetchone()))
        return count(cursor, copy, vacuumed=vacuumed, **kwargs)

    monkeypatch.setattr(snapshot, "_count_users", spy)
    return seen


def _receive_both_registers(world) -> None:
    world.municipality.reports_npr = True  # one submitter in both registers: the same user twice, once in each
    world.municipality.save()
    receive(
        world.municipality,
        [
            kpr_record("a", patient_ref="p1", event_date=f"{YEAR}-01-15"),
            kpr_record("b", patient_ref="p1", event_date=f"{YEAR}-03-02", service_code="6"),
            kpr_record("c", patient_ref="p2", event_date=f"{YEAR}-03-09"),
            kpr_record("d", patient_ref="p3", event_date=f"{YEAR - 1}-11-30", service_code="6"),
        ],
    )
    receive(world.municipality, [npr_record("m1", patient_ref="p1", event_date=f"{YEAR}-02-01")], register="NPR")
    receive(
        world.specialist,
        [
            npr_record("n1", patient_ref="p1", event_date=f"{YEAR}-02-01"),
            npr_record("n2", patient_ref="p1", event_date=f"{YEAR}-05-01", contact_kind="admission"),
            npr_record("n3", patient_ref="p9", event_date=f"{YEAR}-05-20", condition_codes=["I10"]),
        ],
    )


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_users_are_counted_from_the_committed_and_vacuumed_copy(world, monkeypatch):
    """Outside a transaction (the worker) the rebuild commits the copy and vacuums it before it counts the users, in
    the order of its index; the numbers must be those of the live records all the same."""
    _receive_both_registers(world)
    seen = _spy_on_the_counts(monkeypatch)
    months = []
    count_months = snapshot._count_months

    def spy_on_the_months(copy):
        months.append((copy, threading.current_thread().name))
        return count_months(copy)

    monkeypatch.setattr(snapshot, "_count_months", spy_on_the_months)
    writes = []
    write_years, write_months = snapshot._write_years, snapshot._write_months

    def spy_on_the_writes(write, cursor, users, months):
        with _other_connection() as other:  # sees only what is committed
            committed = other.execute("SELECT count(*) FROM pg_class WHERE relname IN (%s, %s)", [users, months])
            writes.append((write.__name__, threading.current_thread().name, users, months, committed.fetchone()[0]))
        return write(cursor, users, months)

    monkeypatch.setattr(snapshot, "_write_years", partial(spy_on_the_writes, write_years))
    monkeypatch.setattr(snapshot, "_write_months", partial(spy_on_the_writes, write_months))

    snapshot_rebuild()

    [(copy, vacuumed, pages, visible)] = seen
    # The year and month rows were written side by side, on two connections, from the same committed work tables.
    assert sorted(name for name, *_rest in writes) == ["_write_months", "_write_years"]
    assert len({thread for _name, thread, *_rest in writes}) == 2
    assert len({(users, months) for _name, _thread, users, months, _committed in writes}) == 1
    assert [committed for *_rest, committed in writes] == [2, 2], "the work tables should be committed before"
    # Each month's records were counted from the same copy, beside the rebuild (its keys were built meanwhile).
    assert [name for name, _thread in months] == [copy]
    assert months[0][1] != threading.current_thread().name
    assert copy.endswith("_next")
    assert vacuumed
    assert pages > 0
    assert visible == pages, "the copy should be vacuumed before the users are counted from its index"
    assert SnapshotRecord.objects.count() == 8
    assert SnapshotYear.objects.filter(submitter=world.municipality, register="NPR", dimension="total").exists()
    assert_snapshot_matches_live()
    assert tables_left_behind() == 0
    assert _advisory_locks_held() == 0, "the rebuild's session lock should be released"


@pytest.mark.django_db(transaction=True)
def test_with_an_older_transaction_open_the_rebuild_hashes_and_the_numbers_are_right(world, monkeypatch):
    """A snapshot older than the copy's commit keeps the vacuum from marking its pages visible to all: the index alone
    no longer gives the rows, and the rebuild must count them another way."""
    _receive_both_registers(world)
    seen = _spy_on_the_counts(monkeypatch)
    with _other_connection() as older:
        older.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        older.execute("SELECT 1")  # its snapshot, held until the end (no table: the swap locks them)

        snapshot_rebuild()

    [(_copy, vacuumed, pages, visible)] = seen
    assert visible < pages
    assert not vacuumed
    assert_snapshot_matches_live()
    assert _advisory_locks_held() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_failing_after_the_copy_was_committed_leaves_the_snapshot_as_it_was(world, monkeypatch):
    receive(world.municipality, [kpr_record("a", patient_ref="p1")])
    snapshot_rebuild()
    assert SnapshotRecord.objects.count() == 1
    before = list(SnapshotYear.objects.order_by("id").values_list("dimension", "category", "records", "users"))
    receive(world.municipality, [kpr_record("b", patient_ref="p2")])
    committed = []

    def fail(*args, **kwargs):
        with _other_connection() as other:  # sees only what is committed
            for table in (*TABLES, DELIVERIES):
                committed.append(other.execute(f"SELECT count(*) FROM {table}_next").fetchone()[0])  # noqa: S608
        raise RuntimeError("swap failed")

    monkeypatch.setattr(snapshot.table_swap, "take_over", fail)
    with pytest.raises(RuntimeError, match="swap failed"):
        snapshot_rebuild()

    # The copy's two records; one month (total and service code), one year likewise; the deliveries' table is there
    # (no deadline in this world: empty).
    assert committed == [2, 2, 2, 0], "the new tables should have been committed before the swap"
    assert list(SnapshotYear.objects.order_by("id").values_list("dimension", "category", "records", "users")) == before
    assert SnapshotRecord.objects.count() == 1, "the live copy is the one of the first rebuild"
    assert tables_left_behind() == 0, "the committed tables of the failed rebuild should be dropped"
    assert _advisory_locks_held() == 0
    monkeypatch.undo()
    snapshot_rebuild()
    assert_snapshot_matches_live()


def _hold_the_year_table(other: psycopg.Connection) -> None:
    """A long reader: a transaction that read the live year table and stays open, as a slow report would."""
    other.execute(f"SELECT count(*) FROM {SnapshotYear._meta.db_table}")  # noqa: S608


@pytest.mark.django_db(transaction=True)
def test_the_swap_gives_way_to_a_long_reader_and_swaps_once_it_is_done(world, monkeypatch, caplog):
    """The swap waits for its tables a short while, then gives the locks back, so that the pages queued behind it
    get through, and tries again after a pause. Once the long reader is done, the rebuild swaps its tables in."""
    receive(world.municipality, [kpr_record("a", patient_ref="p1")])
    snapshot_rebuild()
    receive(world.municipality, [kpr_record("b", patient_ref="p2")])
    monkeypatch.setattr(snapshot, "SWAP_LOCK_WAIT_MS", 200)
    monkeypatch.setattr(snapshot, "SWAP_ATTEMPTS", 5)
    caplog.set_level(logging.WARNING, logger="submissions.snapshot")
    read_in_the_pause = []
    with _other_connection() as reader, _other_connection() as page:
        _hold_the_year_table(reader)
        page.execute("SET lock_timeout = '1s'")

        def pause(seconds):
            # A page between two attempts reads the snapshot at once; then the long reader finishes.
            read_in_the_pause.append(page.execute(f"SELECT count(*) FROM {TABLES[1]}").fetchone()[0])  # noqa: S608
            page.commit()
            reader.commit()

        monkeypatch.setattr(snapshot.time, "sleep", pause)
        snapshot_rebuild()

    waits = [record for record in caplog.records if "in use" in record.getMessage()]
    assert len(waits) == 1, "the swap should have given way to the reader once"
    assert read_in_the_pause == [2], "a page should read the old month rows between two attempts"
    assert SnapshotYear.objects.get(dimension="total").users == 2
    assert_snapshot_matches_live()
    assert tables_left_behind() == 0
    assert _advisory_locks_held() == 0


@pytest.mark.django_db(transaction=True)
def test_a_swap_that_never_gets_its_tables_fails_the_rebuild_and_leaves_the_snapshot_as_it_was(
    world, monkeypatch, caplog
):
    receive(world.municipality, [kpr_record("a", patient_ref="p1")])
    snapshot_rebuild()
    oids = {table: table_oid(table) for table in (*TABLES, DELIVERIES)}
    receive(world.municipality, [kpr_record("b", patient_ref="p2")])
    monkeypatch.setattr(snapshot, "SWAP_LOCK_WAIT_MS", 50)
    monkeypatch.setattr(snapshot, "SWAP_PAUSE_SECONDS", 0.01)
    monkeypatch.setattr(snapshot, "SWAP_ATTEMPTS", 3)
    caplog.set_level(logging.WARNING, logger="submissions.snapshot")
    with _other_connection() as reader:
        _hold_the_year_table(reader)
        with pytest.raises(snapshot.SwapBusyError, match="3 attempts"):
            snapshot_rebuild()

    assert len([record for record in caplog.records if "in use" in record.getMessage()]) == 3
    assert {table: table_oid(table) for table in (*TABLES, DELIVERIES)} == oids, "nothing should have been swapped in"
    assert SnapshotYear.objects.get(dimension="total").users == 1
    assert tables_left_behind() == 0
    assert _advisory_locks_held() == 0


def test_inside_a_transaction_the_swap_leaves_its_lock_timeout_as_it_was(world):
    """The one-transaction rebuild swaps with its own lock timeout; the caller's own is kept for the rest of its
    transaction."""
    receive(world.municipality, [kpr_record("a", patient_ref="p1")])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '7s'")
        snapshot_rebuild()
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "7s"
    assert_snapshot_matches_live()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "work",
    [
        "_refresh_deliveries",  # the deliveries, from the start
        "_count_months",  # each month's records, beside the copy's keys
        "_write_years",  # the year rows, beside the month rows
    ],
)
def test_a_rebuild_whose_work_beside_it_fails_leaves_the_snapshot_as_it_was(world, monkeypatch, work):
    """Each piece of work beside the rebuild runs in a thread of its own: its failure fails the rebuild, nothing is
    swapped in, and nothing the rebuild committed (the copy, the month rows, the work tables) is left."""
    receive(world.municipality, [kpr_record("a", patient_ref="p1")])
    snapshot_rebuild()
    oids = {table: table_oid(table) for table in (*TABLES, DELIVERIES)}
    receive(world.municipality, [kpr_record("b", patient_ref="p2")])
    threads = []

    def fail(*args, **kwargs):
        threads.append(threading.current_thread().name)
        raise RuntimeError(f"{work} failed")

    monkeypatch.setattr(snapshot, work, fail)
    with pytest.raises(RuntimeError, match=f"{work} failed"):
        snapshot_rebuild()

    assert len(threads) == 1
    assert threads[0] != threading.current_thread().name, "the work should be done beside the rebuild"
    assert {table: table_oid(table) for table in (*TABLES, DELIVERIES)} == oids, "nothing should have been swapped in"
    assert SnapshotRecord.objects.count() == 1
    assert tables_left_behind() == 0, "the committed tables should be dropped"
    assert _advisory_locks_held() == 0
    monkeypatch.undo()
    snapshot_rebuild()
    assert_snapshot_matches_live()


def test_keys_built_readable_keep_their_deferrability():
    """build_keys(readable=True) builds each key as an index first and attaches it as a constraint at the end; the
    constraint must come out as the live one's, deferrable as it was."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE swap_probe (id bigint PRIMARY KEY, a int NOT NULL, "
            "CONSTRAINT swap_probe_a UNIQUE (a) DEFERRABLE INITIALLY DEFERRED)"
        )
        cursor.execute("CREATE INDEX swap_probe_by_a ON swap_probe (a DESC)")
        cursor.execute("CREATE TABLE swap_probe_next (LIKE swap_probe INCLUDING ALL EXCLUDING INDEXES)")
        cursor.execute("INSERT INTO swap_probe_next SELECT n, n FROM generate_series(1, 50) n")

        table_swap.build_keys(cursor, "swap_probe", "swap_probe_next", readable=True)

        def keys(table):
            cursor.execute(
                "SELECT replace(conname, '_next', ''), contype, pg_get_constraintdef(oid), condeferrable, condeferred "
                "FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY 1",
                [table],
            )
            return cursor.fetchall()

        assert keys("swap_probe_next") == keys("swap_probe")
        assert ("swap_probe_a", "u", "UNIQUE (a) DEFERRABLE INITIALLY DEFERRED", True, True) in keys("swap_probe_next")
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'swap_probe_next'")
        assert cursor.fetchone()[0] == 3
