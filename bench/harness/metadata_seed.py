"""A year of per-file runs in Airflow's metadata DB, copied from one real run by SQL.

The receiver's live path writes, per file, one ``mrt_file`` dag_run, its task instances and
their XComs (and the api-server an audit ``log`` row for the trigger). Rather than guess those
rows, the seed copies every row a real run wrote (found by its ``run_id``, or by the run's id
for XComs) ``count`` times with ``generate_series``: each column keeps the real run's value
except

- the keys: ``dag_run.id`` (its sequence), ``task_instance.id`` (a new UUID), ``run_id`` (a
  distinct id of the receiver's form ``mrt:<path>:<hash>``), ``xcom.dag_run_id`` (the new run's
  id, by join);
- the times (``queued_at``, ``start_date``, ``end_date``, ``run_after``, ``updated_at``,
  ``last_scheduling_decision``, ``timestamp``, ``dttm``, ``queued_dttm``,
  ``scheduled_dttm``): the real run's times moved back, ``per_day`` copies a day (6,300: a
  year is 2.3M), as a year of uploads would spread, each copy with the real run's durations;
- ``conf`` is kept (same size as a real file's conf).

Task instance ``id`` is a UUID (Airflow 3); PostgreSQL 13+ has ``gen_random_uuid()``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

#: the columns that hold a time; a copy moves them back by its offset
TIME_COLUMNS = frozenset(
    {
        "queued_at",
        "start_date",
        "end_date",
        "run_after",
        "updated_at",
        "last_scheduling_decision",
        "timestamp",
        "dttm",
        "queued_dttm",
        "scheduled_dttm",
    }
)
#: kept by Airflow for the last few runs only (``max_num_rendered_ti_fields_per_task``)
NOT_COPIED = frozenset({"rendered_task_instance_fields"})
#: a copy's run id: the real one's ``prefix`` (its hash part cut) and the copy's number ``g``
COPY_RUN_ID = "%(prefix)s::text || ':y' || lpad(g::text, 15, '0')"
#: rows a statement inserts at most (one transaction each: progress, and bounded WAL)
BATCH = 200_000
#: indexes the running stack's own loops filter by, kept through a bulk copy: set aside, the
#: scheduler's query for queued task instances (``ti_state``, ``ti_pool``) and the triggerer's
#: update by ``trigger_id`` scanned the growing tables on every loop (one ran 16 minutes and
#: slowed a 200k-run batch from 43 s to > 15 minutes). Each holds the same key for every copy,
#: so keeping it costs the copy little; partial indexes (``WHERE state = 'running'``) hold no
#: copy at all and are kept too.
KEPT_INDEXES = frozenset(
    {"ti_state", "ti_pool", "ti_trigger_id", "ti_heartbeat", "ti_dag_state", "dag_id_state"}
)


@dataclass(frozen=True)
class TableRows:
    """How many rows of a table one real run wrote."""

    table: str
    rows: int


def _columns(cur: psycopg.Cursor[tuple[object, ...]], table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s AND is_generated = 'NEVER' "
        "AND column_default IS DISTINCT FROM 'nextval(''' || table_name || '_id_seq''::regclass)' "
        "ORDER BY ordinal_position",
        (table,),
    )
    return [str(r[0]) for r in cur.fetchall()]


def _serial_id(cur: psycopg.Cursor[tuple[object, ...]], table: str) -> bool:
    cur.execute(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s AND column_name = 'id'",
        (table,),
    )
    row = cur.fetchone()
    return bool(row and row[0] and "nextval" in str(row[0]))


def rows_of_run(conninfo: str, dag_id: str, run_id: str) -> list[TableRows]:
    """Rows the run wrote, per table that has any (by ``run_id``, XComs by the run's id)."""
    out = []
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'run_id' AND table_name NOT LIKE '\\_airflow\\_deleted%%' "
            "ORDER BY table_name"
        )
        for (table,) in cur.fetchall():
            if table in NOT_COPIED:
                continue
            cur.execute(
                f'SELECT count(*) FROM "{table}" WHERE run_id = %s AND '
                + ("dag_id = %s" if "dag_id" in _columns(cur, str(table)) else "%s IS NOT NULL"),
                (run_id, dag_id),
            )
            n = int(cur.fetchone()[0])  # type: ignore[index]
            if n:
                out.append(TableRows(str(table), n))
    return out


def _select_list(columns: list[str], overrides: dict[str, str]) -> tuple[str, str]:
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    return names, values


@dataclass(frozen=True)
class SetAside:
    """The indexes and foreign keys of the seeded tables that a bulk copy sets aside: what
    each row inserted would otherwise maintain or check one at a time. Their definitions, as
    PostgreSQL prints them, recreate them unchanged (same names) after the copy."""

    indexes: list[tuple[str, str]]
    foreign_keys: list[tuple[str, str, str]]


def structure(cur: psycopg.Cursor[tuple[object, ...]], tables: list[str]) -> SetAside:
    """Every index of ``tables`` that backs no constraint, is not partial and not one of
    ``KEPT_INDEXES`` (``CREATE INDEX`` as PostgreSQL prints it) and every foreign key they
    hold (table, name, definition), in name order."""
    cur.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND i.indpred IS NULL "
        "AND i.indexrelid::regclass::text <> ALL(%s) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        (tables, sorted(KEPT_INDEXES)),
    )
    indexes = [(str(n), str(d)) for n, d in cur.fetchall()]
    cur.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
        (tables,),
    )
    keys = [(str(t), str(n), str(d)) for t, n, d in cur.fetchall()]
    return SetAside(indexes, keys)


def set_aside(cur: psycopg.Cursor[tuple[object, ...]], tables: list[str]) -> SetAside:
    """Drop what :func:`structure` lists (printed first: the way back if the process dies)."""
    aside = structure(cur, tables)
    print(f"set aside during the copy: {aside}", flush=True)
    for table, name, _ in aside.foreign_keys:
        cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _ in aside.indexes:
        cur.execute(f'DROP INDEX "{name}"')
    return aside


def put_back(cur: psycopg.Cursor[tuple[object, ...]], aside: SetAside) -> None:
    """Recreate the indexes (one sort each) and the foreign keys (one join each checks every
    row, as the per-row checks would have), those not there (again after a failure). The
    tables are analyzed first: the check's join is planned on their statistics, and on the
    empty DB's a join of 23M XComs chose a nested loop that did not end in 10 minutes."""
    now = structure(cur, sorted({t for t, _, _ in aside.foreign_keys}))
    for table in sorted({t for t, _, _ in aside.foreign_keys}):
        cur.execute(f'ANALYZE "{table}"')
    for index in aside.indexes:
        if index not in now.indexes:
            cur.execute(index[1])
    for key in aside.foreign_keys:
        if key not in now.foreign_keys:
            table, name, definition = key
            cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def cancel_older_queries(cur: psycopg.Cursor[tuple[object, ...]]) -> int:
    """Cancel the other sessions' statements running since before now: planned while the
    indexes were set aside (and on the statistics of the empty tables), they can scan for
    hours; a scheduler's query did (19 minutes, the scheduler stalled, until cancelled). The
    session retries on its next loop with a plan that uses the indexes. How many."""
    cur.execute(
        "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE datname = "
        "current_database() AND pid <> pg_backend_pid() AND state = 'active' "
        "AND backend_type = 'client backend' AND query_start < now()"
    )
    row = cur.fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def seed(
    conninfo: str,
    *,
    dag_id: str,
    template_run_id: str,
    count: int,
    first: int = 1,
    per_day: float = 6_300.0,
    bulk: bool = True,
    timings: dict[str, float] | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, int]:
    """Copy every row of ``template_run_id`` as copies ``first`` .. ``first + count - 1``,
    copy ``g`` dated ``g / per_day`` days before the real run (so copies made in several
    calls continue one another); rows added per table.

    ``bulk``: set the tables' secondary indexes and foreign keys aside during the copy and
    recreate them after it (:class:`SetAside`), commit without waiting for the WAL flush, and
    give the index builds memory; the tables end as they were, the rows the same. Seconds per
    step go into ``timings``."""
    added: dict[str, int] = {}
    spent = timings if timings is not None else {}
    step = f"(interval '1 second' * {86400.0 / per_day!r})"
    prefix = re.sub(r":[0-9a-f]+$", "", template_run_id)
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        tables = [t.table for t in rows_of_run(conninfo, dag_id, template_run_id)]
        others = [t for t in tables if t != "dag_run"]
        order = ["dag_run", *others]
        plans = {table: _insert(cur, table, step) for table in order}
        aside = None
        if bulk:
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET maintenance_work_mem = '1GB'")
            cur.execute("SET work_mem = '256MB'")
            t0 = time.monotonic()
            aside = set_aside(cur, order)
            spent["set_aside"] = round(time.monotonic() - t0, 1)
        try:
            last = first + count - 1
            for lo in range(first, last + 1, BATCH):
                hi = min(last, lo + BATCH - 1)
                t0 = time.monotonic()
                with conn.transaction():
                    for table in order:
                        t1 = time.monotonic()
                        cur.execute(
                            plans[table],
                            {"run": template_run_id, "prefix": prefix, "dag": dag_id,
                             "lo": lo, "hi": hi},
                        )  # fmt: skip
                        added[table] = added.get(table, 0) + max(cur.rowcount, 0)
                        spent[table] = round(spent.get(table, 0.0) + time.monotonic() - t1, 1)
                progress(f"seeded copies {lo}..{hi} in {time.monotonic() - t0:.0f} s {spent}")
        finally:
            if aside is not None:
                t0 = time.monotonic()
                put_back(cur, aside)
                spent["put_back"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        for table in order:
            cur.execute(f'ANALYZE "{table}"')
        spent["analyze"] = round(time.monotonic() - t0, 1)
        if bulk:
            spent["cancelled"] = cancel_older_queries(cur)
        progress(f"seeded {count} copies: seconds {spent}")
    return added


def _insert(cur: psycopg.Cursor[tuple[object, ...]], table: str, step: str) -> str:
    """``INSERT ... SELECT`` of the template's rows of ``table``, once per copy ``g``."""
    cols = _columns(cur, table)
    if not _serial_id(cur, table) and "id" in cols and table != "xcom":
        overrides = {"id": "gen_random_uuid()"}
    else:
        overrides = {}
    overrides["run_id"] = COPY_RUN_ID
    shift = f"({step} * g)"
    for c in cols:
        if c in TIME_COLUMNS:
            overrides[c] = f't."{c}" - {shift}'
    where = "t.run_id = %(run)s" + (" AND t.dag_id = %(dag)s" if "dag_id" in cols else "")
    source = f'"{table}" t, generate_series(%(lo)s::int, %(hi)s::int) g'
    if "dag_run_id" in cols:  # xcom: the new run's numeric id, by its run id
        overrides["dag_run_id"] = "r.id"
        source += f" JOIN dag_run r ON r.dag_id = %(dag)s AND r.run_id = {COPY_RUN_ID}"
    names, values = _select_list(cols, overrides)
    return f'INSERT INTO "{table}" ({names}) SELECT {values} FROM {source} WHERE {where}'


def table_sizes(conninfo: str, tables: list[str]) -> dict[str, dict[str, int]]:
    """Rows (estimate after ANALYZE) and bytes with indexes, per table. Analyzed here: after
    ``db clean`` the statistics still counted the deleted rows (599,980 runs for 188,903)."""
    out = {}
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        for table in tables:
            cur.execute(f'ANALYZE "{table}"')
            cur.execute(
                "SELECT reltuples::bigint, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relname = %s AND relkind = 'r'",
                (table,),
            )
            row = cur.fetchone()
            if row:
                out[table] = {"rows": int(row[0]), "bytes": int(row[1])}
    return out
