"""The example queries of docs/warehouse-layout.md, run on the emulator against a routes
table of the project's layout holding a generated RIB and update file of 2024-01-31: each
answers, and a query without a ``timestamp`` filter is refused (require_partition_filter)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest
from google.cloud import bigquery

from cloudz.convert import convert_file
from cloudz.mrtgen import RibSpec, UpdatesSpec, generate_rib, generate_updates, write_file
from cloudz.settings import PROJECT_ROOT, Settings
from cloudz.warehouse.clients import bigquery_client, storage_client

pytestmark = pytest.mark.stack

NOON = 1_706_702_400  # 2024-01-31T12:00:00Z
DOC_PREFIX, DOC_PEER = "10.0.0.0/24", "65001"


def _doc_queries() -> list[str]:
    text = (PROJECT_ROOT / "docs" / "warehouse-layout.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def _load(settings: Settings, tmp: Path, collector: str, kind: str, records: Any) -> None:
    prefix = "rib" if kind == "RIBS" else "updates"
    path = f"{collector}/bgpdata/2024.01/{kind}/{prefix}.20240131.1200.bz2"
    raw, avro = tmp / f"{collector}.{kind}.bz2", tmp / f"{collector}.{kind}.avro"
    write_file(raw, records)
    convert_file(raw, avro, collector=collector, source_path=path, source_sha256="0" * 64)
    storage_client(settings).bucket(settings.bucket).blob(f"{path}.avro").upload_from_filename(
        str(avro)
    )
    config = bigquery.LoadJobConfig(
        source_format="AVRO", use_avro_logical_types=True, write_disposition="WRITE_APPEND"
    )
    bigquery_client(settings).load_table_from_uri(
        f"gs://{settings.bucket}/{path}.avro", settings.table_ref, job_config=config
    ).result()


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    return [dict(r.items()) for r in bigquery_client(settings).query(sql).result()]


def test_the_docs_queries_answer_and_an_unfiltered_query_is_refused(
    cloud: Settings, tmp_path: Path
) -> None:
    _load(
        cloud,
        tmp_path,
        "route-views2",
        "RIBS",
        generate_rib(RibSpec(peers=4, prefixes=60, seed=5, timestamp=NOON)),
    )
    _load(cloud, tmp_path, "route-views.sg", "UPDATES",
          generate_updates(UpdatesSpec(rows=200, seed=6, timestamp=NOON)))  # fmt: skip
    window = "timestamp >= TIMESTAMP '2024-01-31' AND timestamp < TIMESTAMP '2024-02-01'"
    # a prefix and a RIB peer the generated data holds, for the doc's placeholders
    (held,) = _rows(
        cloud,
        f"SELECT prefix, peer_asn FROM `{cloud.table_ref}` WHERE {window} "
        "AND collector = 'route-views2' AND entry_type = 'B' AND as_path IS NOT NULL "
        "ORDER BY row_index LIMIT 1",
    )
    queries = _doc_queries()
    assert len(queries) == 4
    answers = [
        _rows(
            cloud,
            sql.replace("{routes}", cloud.table_ref)
            .replace(DOC_PREFIX, held["prefix"])
            .replace(DOC_PEER, str(held["peer_asn"])),
        )
        for sql in queries
    ]
    day, prefix_year, origins, peer_rib = answers
    assert day and {r["entry_type"] for r in day} <= {"A", "W"}
    assert [r["collector"] for r in prefix_year] == ["route-views2"]
    assert origins and all(r["origin_as"] for r in origins)
    assert held["prefix"] in {r["prefix"] for r in peer_rib}

    with pytest.raises(BadRequest, match="partition"):
        _rows(cloud, f"SELECT COUNT(*) FROM `{cloud.table_ref}` WHERE prefix = 'x'")
