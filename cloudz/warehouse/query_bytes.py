"""What a query of the routes table bills, before it runs: BigQuery's dry run, or the layout's
arithmetic where there is none (the emulator reports 0 bytes for every query).

The arithmetic is the one docs/research.md uses: the routes columns the SQL names, times their
bytes a row, times the rows of the days its ``timestamp`` range spans, at 2025 volumes and with
no block pruning: an upper bound a researcher can compare with ``maximum_bytes_billed``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from google.cloud import bigquery

PRICE_PER_TIB: Final = 6.25
"""On-demand dollars per TiB billed (the first TiB of a month is free)."""
ROWS_A_DAY: Final = 3.3e9
"""Rows a day in the routes table at 2025 volumes, every collector (docs/research.md)."""
DEFAULT_MAX_BYTES: Final = 16 * 2**30
"""``maximum_bytes_billed`` unless told otherwise: 16 GiB, $0.10."""

#: bytes a row of each routes column (docs/research.md, measured on RIPE RIS updates)
WIDTHS: Final = {
    "timestamp": 8, "collector": 15, "mrt_type": 8, "entry_type": 3, "peer_ip": 15,
    "peer_asn": 8, "prefix": 17, "path_id": 1, "as_path": 30, "origin": 5, "next_hop": 15,
    "local_pref": 4, "med": 4, "atomic_aggregate": 1, "aggregator": 2, "communities": 40,
    "large_communities": 4, "extended_communities": 4, "old_state": 0, "new_state": 0,
    "originated_time": 8, "only_to_customer": 0, "other_attributes": 4, "source_path": 60,
    "source_sha256": 66, "record_index": 8, "row_index": 8, "as_path_asns": 43,
    "origin_asns": 8, "aggregator_asn": 1, "aggregator_ip": 1, "ip_version": 8,
}  # fmt: skip

_TIME: Final = r"TIMESTAMP\s*'([0-9-]{10}(?:[ T][0-9:]{8})?)'"


@dataclass(frozen=True)
class Estimate:
    bytes: int
    source: str  # "dry run" or "layout"

    @property
    def dollars(self) -> float:
        return self.bytes / 2**40 * PRICE_PER_TIB

    def __str__(self) -> str:
        how = (
            "BigQuery's dry run"
            if self.source == "dry run"
            else "the layout's arithmetic at 2025 volumes, no pruning (no dry-run figure)"
        )
        return f"{self.bytes / 1e9:,.1f} GB, ${self.dollars:,.2f} ({how})"


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=dt.UTC)


def layout_bytes(sql: str) -> int:
    """The arithmetic: named routes columns x their widths x rows of the spanned days (a
    ``timestamp = T`` is one RIB dump round: a twelfth of a day)."""
    words = set(re.findall(r"[a-z_]+", sql.lower()))
    width = sum(w for column, w in WIDTHS.items() if column in words)
    if re.search(r"\*\s*(?:except\b|from\b)", sql, re.I):
        width = sum(WIDTHS.values())
    lo = re.findall(r"timestamp\s*>=?\s*" + _TIME, sql, re.I)
    hi = re.findall(r"timestamp\s*<=?\s*" + _TIME, sql, re.I)
    if lo and hi:
        days = max((_time(hi[0]) - _time(lo[0])).total_seconds() / 86400, 1 / 24)
    elif re.search(r"timestamp\s*=\s*" + _TIME, sql, re.I):
        days = 1 / 12
    else:
        days = 30  # a month's partition at least
    return int(width * ROWS_A_DAY * days)


def estimate(client: bigquery.Client, sql: str) -> Estimate:
    """BigQuery's dry run; where it reports nothing (the emulator), :func:`layout_bytes`."""
    from google.cloud import bigquery

    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
    try:
        dry = client.query(sql, job_config=config).total_bytes_processed
    except Exception:  # an emulator without dry runs: the arithmetic still answers
        dry = None
    if dry:
        return Estimate(int(dry), "dry run")
    return Estimate(layout_bytes(sql), "layout")


def capped(max_bytes: int = DEFAULT_MAX_BYTES) -> bigquery.QueryJobConfig:
    """A query's job config that refuses to bill more than ``max_bytes`` (BigQuery fails the
    query instead)."""
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(maximum_bytes_billed=max_bytes)
