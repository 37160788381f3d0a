"""The reference engine: records decoded by mrtparse (:class:`RowBuilder`), rows written by
fastavro. Slow, but the definition of what the compiled path must write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudz.convert.avro_writer import write_avro_atomically
from cloudz.convert.decompress import DecompressedStream
from cloudz.convert.drops import RecordDecodeError
from cloudz.convert.framing import read_records
from cloudz.convert.limits import DEFAULT_LIMITS, Limits
from cloudz.convert.report import ConversionReport, Damage, widen
from cloudz.convert.rows import RowBuilder


@dataclass
class _Tally:
    rows: int = 0
    records: int = 0
    parse_errors: int = 0
    time_range: tuple[int, int] | None = None
    time_dropped: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    builder: RowBuilder = field(default_factory=RowBuilder)


def iter_rows(
    src: Path,
    tally: _Tally,
    damage: list[Damage],
    *,
    collector: str,
    source_path: str,
    source_sha256: str,
    limits: Limits = DEFAULT_LIMITS,
    time_window: tuple[int, int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows of ``src`` one at a time, counting into ``tally`` and noting damage; rows dated
    outside ``time_window`` (``lo <= t < hi``) are counted in ``tally.time_dropped`` instead.

    Raises :class:`~cloudz.convert.limits.LimitExceeded` past one of ``limits``.
    """
    builder = tally.builder
    per_file = {"collector": collector, "source_path": source_path, "source_sha256": source_sha256}
    rowless, rowless_from = 0, 0  # records in a row without rows, and where they start
    with DecompressedStream(src, limits) as stream:
        for record in read_records(stream, damage):
            tally.records += 1
            try:
                rows = builder.rows(record)
            except RecordDecodeError as e:
                tally.parse_errors += 1
                tally.drops[e.reason] += 1
                rows = []
            if not rows:
                if not rowless:
                    rowless_from = record.offset
                rowless += 1
                if rowless > limits.max_rowless_run:
                    raise limits.rowless_error(rowless, rowless_from)
                continue
            rowless = 0  # rows dropped for their time were rows (the fast path agrees)
            if time_window is not None:
                lo, hi = time_window
                kept = [row for row in rows if lo <= row["timestamp"] < hi]
                tally.time_dropped += len(rows) - len(kept)
                rows = kept
            limits.check_rows(tally.rows + tally.time_dropped + len(rows), stream)
            for row in rows:
                row.update(per_file)
                row["record_index"] = record.index
                row["row_index"] = tally.rows
                tally.rows += 1
                tally.time_range = widen(tally.time_range, row["timestamp"])
                yield row
        limits.check_rows(tally.rows + tally.time_dropped, stream, final=True)


def convert_file_reference(
    src: Path,
    dst: Path,
    *,
    collector: str,
    source_path: str,
    source_sha256: str,
    limits: Limits = DEFAULT_LIMITS,
    time_window: tuple[int, int] | None = None,
) -> ConversionReport:
    """``convert_file`` with ``engine="python"``."""
    from cloudz.warehouse.schema import avro_schema

    tally = _Tally()
    damage: list[Damage] = []
    rows = iter_rows(
        src,
        tally,
        damage,
        collector=collector,
        source_path=source_path,
        source_sha256=source_sha256,
        limits=limits,
        time_window=time_window,
    )
    write_avro_atomically(dst, avro_schema(), rows)
    return ConversionReport(
        rows=tally.rows,
        records=tally.records,
        parse_errors=tally.parse_errors,
        damage=damage[0] if damage else None,
        time_range=tally.time_range,
        masked_prefixes=tally.builder.notes.masked_prefixes,
        repairs=dict(tally.builder.notes.repairs),
        drops=dict(tally.drops),
        time_dropped=tally.time_dropped,
        time_window=time_window,
    )
