"""The reconcile's recount reads the span of the files' own records, not their whole days.

Two update files of one collector on one day, six hours apart, in the routes table on the
emulator: recounting the first counts exactly its rows, from a window that ends at its last
record, so the second file's rows (same collector, same day) are outside the query.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from google.cloud import bigquery

from cloudz.convert import convert_file
from cloudz.mrtgen import UpdatesSpec, generate_updates, write_file
from cloudz.reconcile import recount
from cloudz.settings import Settings
from cloudz.warehouse.clients import bigquery_client, storage_client

pytestmark = pytest.mark.stack

NOON = 1_706_702_400  # 2024-01-31T12:00:00Z


def _load(settings: Settings, tmp: Path, hhmm: str, timestamp: int, seed: int) -> dict[str, str]:
    path = f"route-views4/bgpdata/2024.01/UPDATES/updates.20240131.{hhmm}.bz2"
    raw, avro = tmp / f"{hhmm}.bz2", tmp / f"{hhmm}.avro"
    write_file(raw, generate_updates(UpdatesSpec(rows=120, seed=seed, timestamp=timestamp)))
    report = convert_file(
        raw, avro, collector="route-views4", source_path=path, source_sha256="0" * 64
    )
    storage_client(settings).bucket(settings.bucket).blob(f"{path}.avro").upload_from_filename(
        str(avro)
    )
    config = bigquery.LoadJobConfig(
        source_format="AVRO", use_avro_logical_types=True, write_disposition="WRITE_APPEND"
    )
    bigquery_client(settings).load_table_from_uri(
        f"gs://{settings.bucket}/{path}.avro", settings.table_ref, job_config=config
    ).result()
    assert report.time_range is not None

    def iso(micros: int) -> str:
        return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).isoformat()

    return {
        "archive_path": path,
        "collector": "route-views4",
        "rows": str(report.rows),
        "first_record": iso(report.time_range[0]),
        "last_record": iso(report.time_range[1]),
    }


def test_the_recount_window_is_the_files_records(cloud: Settings, tmp_path: Path) -> None:
    first = _load(cloud, tmp_path, "1200", NOON, 31)
    later = _load(cloud, tmp_path, "1800", NOON + 6 * 3600, 32)
    window = recount.records_window([first])
    assert window.lo == dt.datetime.fromisoformat(first["first_record"])
    assert window.hi == dt.datetime.fromisoformat(first["last_record"]) + dt.timedelta(
        microseconds=1
    )
    assert window.hi < dt.datetime.fromisoformat(later["first_record"])
    assert window.hi - window.lo < dt.timedelta(hours=1)  # not the whole day
    client = bigquery_client(cloud)
    counted = recount.count(client, cloud.table_ref, [first])
    assert counted == {first["archive_path"]: int(first["rows"])}
    # both files: one query (same day), the span of both, each counted exactly
    both = recount.count(client, cloud.table_ref, [first, later])
    assert both == {e["archive_path"]: int(e["rows"]) for e in (first, later)}
    # and nothing of the later file is inside the first file's window
    rows = client.query(
        f"SELECT COUNT(*) AS n FROM `{cloud.table_ref}` WHERE {window.where()} "
        "AND source_path = @p",
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                *window.query_parameters(),
                bigquery.ScalarQueryParameter("p", "STRING", later["archive_path"]),
            ]
        ),
    ).result()
    assert next(iter(rows))["n"] == 0
