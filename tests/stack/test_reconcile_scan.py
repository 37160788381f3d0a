"""The reconcile's bucket scan against fake-gcs-server: which objects a window lists."""

from __future__ import annotations

import datetime as dt

from cloudz.reconcile.bucket_scan import bucket_collectors, scan
from cloudz.settings import Settings
from cloudz.warehouse.clients import storage_client

SHA = "ab" * 32


def test_the_scan_sorts_raw_avro_and_strays_and_sees_a_pacific_month_boundary(
    cloud: Settings,
) -> None:
    bucket = storage_client(cloud).bucket(cloud.bucket)
    raw = {
        # Pacific time before 2003-02-03: 23:45 on 2002-12-31 is 2003-01-01 07:45 UTC, and the
        # file sits in 2002.12/: a window of 2003-01-01 must list the month before
        "scan-rv2/bgpdata/2002.12/UPDATES/updates.20021231.2345.bz2": SHA,
        "scan-rv2/bgpdata/2003.01/UPDATES/updates.20030101.1200.bz2": "",  # no sha256
        "scan-rv2/bgpdata/2003.01/UPDATES/updates.20030102.0000.bz2": SHA,  # the next day
    }
    for name, sha in raw.items():
        blob = bucket.blob(name)
        blob.metadata = {"sha256": sha} if sha else None
        blob.upload_from_string(b"mrt")
    bucket.blob("scan-rv2/bgpdata/2003.01/RIBS/rib.20030101.0800.bz2.avro").upload_from_string(b"")
    bucket.blob("scan-rv2/bgpdata/2003.01/UPDATES/old/notes.txt").upload_from_string(b"")
    bucket.blob("scan-rv2/bgpdata/2003.01/UPDATES/no-time-in-name").upload_from_string(b"")
    bucket.blob("_loads/x").upload_from_string(b"")

    found = scan(bucket, ["scan-rv2"], dt.date(2003, 1, 1), dt.date(2003, 1, 1))
    assert [(r.path, r.sha256, r.day) for r in found.raw] == [
        (
            "scan-rv2/bgpdata/2002.12/UPDATES/updates.20021231.2345.bz2",
            SHA,
            dt.date(2003, 1, 1),
        ),
        ("scan-rv2/bgpdata/2003.01/UPDATES/updates.20030101.1200.bz2", "", dt.date(2003, 1, 1)),
    ]
    assert all(r.created is not None for r in found.raw)
    assert found.orphan_avro == ["scan-rv2/bgpdata/2003.01/RIBS/rib.20030101.0800.bz2.avro"]
    # a name with no time is no RouteViews name (cloudz.archive.paths): a stray like notes.txt
    assert found.strays == [
        "scan-rv2/bgpdata/2003.01/UPDATES/no-time-in-name",
        "scan-rv2/bgpdata/2003.01/UPDATES/old/notes.txt",
    ]
    collectors = bucket_collectors(bucket)
    assert "scan-rv2" in collectors and "_loads" not in collectors


def test_the_newest_file_earlier_checks_saw(cloud: Settings) -> None:
    from cloudz.warehouse import coverage_table
    from cloudz.warehouse.clients import bigquery_client

    def row(day: str, latest: str | None, checked: str) -> coverage_table.CoverageRow:
        return coverage_table.CoverageRow(
            day, "seen-rv", "RIBS", 12, 1, latest, True, False, checked
        )

    client = bigquery_client(cloud)
    coverage_table.record(
        client,
        cloud.coverage_ref,
        [
            row("2025-02-27", "2025-02-27T10:00:00+00:00", "2025-02-27T11:00:00+00:00"),
            row("2025-03-02", "2025-03-02T08:00:00+00:00", "2025-03-02T09:00:00+00:00"),
            row("2025-03-03", None, "2025-03-03T09:00:00+00:00"),
            row("2024-01-01", "2024-01-01T08:00:00+00:00", "2024-01-01T09:00:00+00:00"),
        ],
    )
    seen = coverage_table.last_seen(client, cloud.coverage_ref, dt.date(2025, 2, 1))
    assert seen[("seen-rv", "RIBS")] == dt.datetime(2025, 3, 2, 8, tzinfo=dt.UTC)
