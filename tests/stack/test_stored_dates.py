"""What the warehouse already holds from before the archive-years rule and the time window
(issue 20, item 6): a file archived under a ``0000.01`` folder, its catalog row (month
0000-01-01, a DATE the BigQuery client cannot read back) and rows dated from 1970 to 2106.

``python -m cloudz.warehouse.read_back`` crashed on such a path ("year 0 is out of range"), and the
catalog row could not be read back; now both answer, on the emulator the stack runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from google.cloud import bigquery

from cloudz.archive.archived_file import ArchivedFile
from cloudz.convert import convert_file
from cloudz.mrtgen.attributes import encode_attr
from cloudz.mrtgen.records import BGP4MP, bgp4mp_peer_header, bgp_update, mrt_record
from cloudz.settings import Settings
from cloudz.warehouse import file_catalog
from cloudz.warehouse import read_back as warehouse_rows_cli
from cloudz.warehouse.clients import bigquery_client, storage_client
from cloudz.warehouse.file_rows import file_window

pytestmark = pytest.mark.stack

#: archived before the rules refused it (any name was archived in any folder then)
LEGACY = "legacy/bgpdata/0000.01/UPDATES/updates.00000101.0000"
STAMPS = (0, 1_767_225_600, 0xFFFFFFFF)  # 1970-01-01, 2026-01-01, 2106-02-07


def _update(ts: int) -> bytes:
    head = bgp4mp_peer_header(65001, 65000, True, "192.0.2.1", "192.0.2.2")
    attrs = encode_attr(0x40, 1, b"\x00") + encode_attr(0x40, 3, bytes([10, 0, 0, 1]))
    return mrt_record(ts, BGP4MP, 4, head + bgp_update(b"", attrs, bytes([24, 192, 168, 1])))


def _env(cloud: Settings) -> dict[str, str]:
    return {
        "CLOUDZ_STATE_DIR": str(cloud.state_dir),
        "CLOUDZ_GCS_PORT": str(cloud.gcs_port),
        "CLOUDZ_BIGQUERY_PORT": str(cloud.bigquery_port),
        "CLOUDZ_BIGQUERY_GRPC_PORT": str(cloud.bigquery_grpc_port),
    }


def _store_as_before(cloud: Settings, tmp_path: Path) -> None:
    """The rows and the catalog row the pipeline wrote for LEGACY before the rules: every
    row kept whatever its time, the catalog's month from the path's folder."""
    raw, avro = tmp_path / "legacy.mrt", tmp_path / "legacy.avro"
    raw.write_bytes(b"".join(_update(t) for t in STAMPS))
    report = convert_file(
        raw, avro, collector="legacy", source_path=LEGACY, source_sha256="0" * 64,
        time_window=None,
    )  # fmt: skip
    assert report.rows == 3
    storage_client(cloud).bucket(cloud.bucket).blob(f"{LEGACY}.avro").upload_from_filename(
        str(avro)
    )
    client = bigquery_client(cloud)
    config = bigquery.LoadJobConfig(
        source_format="AVRO", use_avro_logical_types=True, write_disposition="WRITE_APPEND"
    )
    client.load_table_from_uri(
        f"gs://{cloud.bucket}/{LEGACY}.avro", cloud.table_ref, job_config=config
    ).result()
    assert report.time_range is not None
    lo, hi = (dt.datetime.fromtimestamp(t / 1e6, dt.UTC).isoformat() for t in report.time_range)
    row = {
        "archive_path": LEGACY, "collector": "legacy", "kind": "UPDATES", "dump_time": None,
        "month": "0000-01-01", "sha256": "0" * 64, "size": raw.stat().st_size,
        "state": "loaded", "stage": None, "reason": None, "rows": 3, "records": 3,
        "parse_errors": 0, "damage_offset": None, "first_record": lo, "last_record": hi,
        "run_id": "mrt:legacy", "load_job": None,
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(),
    }  # fmt: skip
    assert not client.insert_rows_json(cloud.files_ref, [row])


def test_warehouse_rows_and_the_catalog_read_a_path_the_rules_now_refuse(
    cloud: Settings, tmp_path: Path
) -> None:
    _store_as_before(cloud, tmp_path)
    client = bigquery_client(cloud)

    window = file_window(client, cloud.files_ref, LEGACY)
    assert window.lo <= dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert window.hi > dt.datetime(2106, 2, 7, 6, 28, tzinfo=dt.UTC)

    result = CliRunner().invoke(warehouse_rows_cli.main, [LEGACY], env=_env(cloud))
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"holds 3 rows of {LEGACY}" in result.output

    # the row reads back, its month as the store's text (the emulator's DuckDB: year 0 is
    # "0001-01-01 (BC)"); selected as a DATE it raised in the client
    stored = file_catalog.stored_rows(client, cloud.files_ref, LEGACY)
    assert [(r["archive_path"], r["rows"], r["state"]) for r in stored] == [(LEGACY, 3, "loaded")]
    assert stored[0]["month"] in ("0000-01-01", "0001-01-01 (BC)")
    with pytest.raises(ValueError):  # "unconverted data remains:  (BC)"
        list(client.query(f"SELECT month FROM `{cloud.files_ref}` WHERE archive_path = '{LEGACY}'"))


def test_a_catalog_row_of_a_valid_path_reads_back_the_same_way(cloud: Settings) -> None:
    path = "rv/bgpdata/2026.01/UPDATES/updates.20260131.2345.bz2"
    row = file_catalog.row_of(ArchivedFile.of(path, "1" * 64), state="loaded", report={"rows": 0})
    file_catalog.record(bigquery_client(cloud), cloud.files_ref, row, "t/1")
    stored = file_catalog.stored_rows(bigquery_client(cloud), cloud.files_ref, path)
    assert [(r["month"], r["state"]) for r in stored] == [("2026-01-01", "loaded")]
