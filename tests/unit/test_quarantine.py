"""The pure parts of ``cloudz-quarantine``: where objects go, which partitions a DELETE
touches, the retry on BigQuery's DML limits, and the receiver's words for a quarantined file.
The whole command runs against the stack in tests/e2e/test_quarantine.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from cloudz.archive import paths
from cloudz.ingest.v1 import ingest_pb2 as pb
from cloudz.quarantine import audit, objects, route_rows
from cloudz.warehouse import file_catalog
from cloudz.warehouse.file_rows import TimeWindow
from ingest_service.catalog_answer import apply_row, quarantine_note

SHA = "ab" * 32
PATH = "route-views2/bgpdata/2024.03/UPDATES/updates.20240301.0010.bz2"


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_quarantined_objects_are_kept_apart_by_version_under_one_prefix() -> None:
    assert objects.raw_name(PATH, SHA) == f"_quarantine/{PATH}/{SHA}/updates.20240301.0010.bz2"
    part = paths.avro_part_name(PATH, 2)
    assert objects.quarantine_name(PATH, SHA, part) == (
        f"_quarantine/{PATH}/{SHA}/updates.20240301.0010.bz2.avro-0002.avro"
    )
    with pytest.raises(ValueError):
        objects.prefix_of(PATH, "not a sha")
    # never under a name the archive's rules or a load's wildcard would read
    with pytest.raises(paths.ArchivePathError):
        paths.parse(objects.raw_name(PATH, SHA))


def test_a_file_near_a_month_edge_is_deleted_one_partition_at_a_time() -> None:
    window = route_rows.version_window(paths.parse(PATH), [])
    assert (window.lo, window.hi) == (_t("2024-02-29 00:10"), _t("2024-03-02 00:10"))
    pieces = list(route_rows.per_partition(window))
    assert [(p.lo, p.hi) for p in pieces] == [
        (_t("2024-02-29 00:10"), _t("2024-03-01 00:00")),
        (_t("2024-03-01 00:00"), _t("2024-03-02 00:10")),
    ]
    mid = paths.parse("rrc00/bgpdata/2024.03/RIBS/rib.20240315.1200.gz")
    assert len(list(route_rows.per_partition(route_rows.version_window(mid, [])))) == 1


def test_the_catalog_records_widen_the_window_to_their_days() -> None:
    window = route_rows.version_window(
        paths.parse(PATH), [("2024-02-20T03:00:00+00:00", "2024-03-05T01:00:00+00:00")]
    )
    assert (window.lo, window.hi) == (_t("2024-02-20 00:00"), _t("2024-03-06 00:00"))
    as_bigquery_casts = route_rows.version_window(
        paths.parse(PATH), [("2024-02-27 23:59:59.5+00", "2024-03-03 00:00:00 UTC"), (None, "?")]
    )
    assert (as_bigquery_casts.lo, as_bigquery_casts.hi) == (
        _t("2024-02-27 00:00"),
        _t("2024-03-04 00:00"),
    )


class _Job:
    num_dml_affected_rows = 7

    def result(self) -> None:
        return None


class _QueueFullOnce:
    """BigQuery's answer when the table's DML queue is full: the emulator enforces no such
    limit, so the fault is made here (the only stand-in in these tests)."""

    def __init__(self, failures: int, message: str) -> None:
        self.failures = failures
        self.message = message
        self.queries: list[str] = []

    def query(self, sql: str, job_config: Any = None) -> _Job:
        self.queries.append(sql)
        if self.failures:
            self.failures -= 1
            raise gexc.BadRequest(self.message)  # type: ignore[no-untyped-call]
        return _Job()


def test_a_full_dml_queue_is_waited_out_and_other_errors_are_not() -> None:
    slept: list[float] = []
    client = _QueueFullOnce(2, "Too many DML statements outstanding against table t, limit is 20")
    window = TimeWindow(_t("2024-03-11 00:00"), _t("2024-03-13 00:00"))
    done = route_rows.delete_version(
        client,  # type: ignore[arg-type]
        "p.d.routes",
        paths.parse(PATH),
        SHA,
        window,
        sleep=slept.append,
    )
    assert [d.deleted for d in done] == [7] and slept == [5.0, 10.0]
    assert "source_sha256 = @sha256" in client.queries[-1]
    assert "timestamp >= @ts_lo AND timestamp < @ts_hi" in client.queries[-1]
    with pytest.raises(gexc.BadRequest):
        route_rows.delete_version(
            _QueueFullOnce(1, "Syntax error"),  # type: ignore[arg-type]
            "p.d.routes",
            paths.parse(PATH),
            SHA,
            window,
            sleep=slept.append,
        )


def test_the_receiver_names_the_quarantined_version() -> None:
    rows = [
        {"sha256": SHA, "state": file_catalog.STATE_LOADED},
        {
            "sha256": SHA,
            "state": file_catalog.STATE_QUARANTINED,
            "stage": "quarantine",
            "reason": "quarantined by ops: truncated",
            "recorded_at": "2026-12-07 20:00:00+00",
        },
    ]
    note = quarantine_note(rows)
    assert note is not None and SHA in note and "truncated" in note
    assert quarantine_note(rows[:1]) is None
    status = pb.FileStatus()
    apply_row(status, rows[1], "p.d.routes")
    assert status.outcome == pb.OUTCOME_REJECTED
    assert (status.failure.stage, status.failure.reason) == (
        "quarantine",
        "quarantined by ops: truncated",
    )


def test_the_audit_row_says_who_why_and_where() -> None:
    row = audit.row_of(
        paths.parse(PATH), SHA, state=audit.STATE_STARTED, reason="x" * 3000,
        operator="ops@host", quarantine_prefix="gs://w/_quarantine/p/", size=10,
    )  # fmt: skip
    assert (row.collector, row.month, len(row.reason)) == ("route-views2", "2024-03-01", 2000)
    assert [c[0] for c in audit.COLUMNS] == list(row.__dataclass_fields__)
