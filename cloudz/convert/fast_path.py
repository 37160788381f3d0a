"""The fast MRT → Avro converter: the compiled row encoder (``_fastmrt``) driven from Python.

Python decompresses (``DecompressedStream``: bz2/zlib are C already) and feeds 1 MiB chunks to
the C :class:`Converter`, which frames records exactly like :mod:`cloudz.convert.framing`,
decodes the common kinds (TABLE_DUMP, TABLE_DUMP_V2 RIB entries incl. ADD-PATH, BGP4MP/BGP4MP_ET
messages and state changes) and appends Avro-encoded rows to the current block, in the field
order of ``include/schemas/mrt_row.avsc``. Python compresses full blocks (zstandard) and writes the
Avro object container file (its header too: fastavro is not needed unless a record falls back).

The C decoder only accepts records the reference (:class:`cloudz.convert.rows.RowBuilder`, built
on mrtparse) would turn into the same rows. Any other record is handed back and converted by the
reference, its rows encoded by fastavro into the same block, so nothing is lost and the rows are
those of ``engine="python"``. The PEER_INDEX_TABLE, the one record of a RIB handed back, is read
by :mod:`cloudz.convert.peer_index`; mrtparse and fastavro are imported at the first other
record handed back (on a small file their import was half its conversion time).

Where the records stop being whole, the rest of the stream goes to
:func:`cloudz.convert.framing.read_records`, so the damage report is the reference's, word for
word.
"""

from __future__ import annotations

import io
import json
import os
import queue
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO, Final

if TYPE_CHECKING:
    from cloudz.convert.rows import RowBuilder

from cloudz.convert.avro_writer import atomic_output
from cloudz.convert.decompress import DecompressedStream
from cloudz.convert.drops import RecordDecodeError
from cloudz.convert.framing import HEADER_LEN, KNOWN_TYPES, MAX_RECORD_LEN, MrtRecord, read_records
from cloudz.convert.limits import DEFAULT_LIMITS, Limits
from cloudz.convert.peer_index import PEER_INDEX_TABLE, TABLE_DUMP_V2, Peer, decode_peer_index
from cloudz.convert.report import ConversionReport, Damage, merge, widen

_fastmrt: ModuleType | None
try:
    from cloudz.convert import _fastmrt
except ImportError:  # not built (e.g. a source tree without a compiler): the Python path only
    _fastmrt = None

_libdeflate: Callable[[bytes, int], bytearray] | None
try:  # libdeflate: the same deflate format, about 1.6x zlib's speed at a smaller size
    from deflate import deflate_compress as _libdeflate
except ImportError:
    _libdeflate = None

try:  # the standard library's zstd from Python 3.14, its backport before (what fastavro reads)
    from compression import zstd as _zstd  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    try:
        from backports import zstd as _zstd  # type: ignore[no-redef, unused-ignore]
    except ImportError:
        _zstd = None

CODEC: Final = "zstandard" if _zstd is not None else "deflate"
"""Avro block codec, chosen by measurement (bench/README.md): zstandard compresses ~5x faster
than libdeflate level 1 and ~2.3x smaller, and BigQuery loads it; every reader here has it
(fastavro with ``backports.zstd``, in the project's and the BigQuery emulator's locks). Without
it, deflate (the format every Avro reader has)."""
DEFLATE_LEVEL: Final = 1
"""Measured (bench/README.md): level 1 is 2-3x faster than level 6 for files a few % larger
(libdeflate's level 1 is as small as zlib's level 6)."""
ZSTD_LEVEL: Final = 3
BLOCK_SIZE: Final = 1 << 21
"""Encoded rows per Avro block before it is compressed and written (bounds memory)."""
READ_SIZE: Final = 1 << 20
"""Decompressed bytes handed to the C decoder per call."""
BZ2_THREADS_ENV: Final = "CLOUDZ_BZ2_THREADS"
"""Threads decoding a bz2 file's blocks at once (default 1: the sequential decoder, in the
read-ahead thread when there are two cores). On the shared 2-core machine two threads gave no
wall-time gain and cost ~17 % more CPU (bench/README.md, "Against the bz2 floor"): off until a
quiet machine shows the gain."""
READ_AHEAD: Final = 4
"""Chunks of READ_SIZE the decompression thread may run ahead of the converter (memory)."""

_STRING: Final = "string"
_LONG: Final = "long"
_NULL_STRING: Final = ["null", "string"]
_NULL_LONG: Final = ["null", "long"]
_STRINGS: Final = {"type": "array", "items": "string"}
_LONGS: Final = {"type": "array", "items": "long"}
_RAW_ATTRIBUTES: Final = {
    "type": "array",
    "items": {
        "type": "record",
        "fields": [
            {"name": "type", "type": "int"},
            {"name": "flags", "type": "int"},
            {"name": "value", "type": "bytes"},
        ],
    },
}

EXPECTED_TYPES: Final[dict[str, Any]] = {
    "timestamp": _LONG,
    "collector": _STRING,
    "mrt_type": _STRING,
    "entry_type": _STRING,
    "peer_ip": _STRING,
    "peer_asn": _LONG,
    "prefix": _NULL_STRING,
    "path_id": _NULL_LONG,
    "as_path": _NULL_STRING,
    "origin": _NULL_STRING,
    "next_hop": _NULL_STRING,
    "local_pref": _NULL_LONG,
    "med": _NULL_LONG,
    "atomic_aggregate": "boolean",
    "aggregator": _NULL_STRING,
    "communities": _STRINGS,
    "large_communities": _STRINGS,
    "extended_communities": _STRINGS,
    "old_state": _NULL_LONG,
    "new_state": _NULL_LONG,
    "originated_time": _NULL_LONG,
    "only_to_customer": _NULL_LONG,
    "other_attributes": _RAW_ATTRIBUTES,
    "source_path": _STRING,
    "source_sha256": _STRING,
    "record_index": _LONG,
    "row_index": _LONG,
    "as_path_asns": _LONGS,
    "origin_asns": _LONGS,
    "aggregator_asn": _NULL_LONG,
    "aggregator_ip": _NULL_STRING,
    "ip_version": _NULL_LONG,
}
"""How the C encoder writes each field it knows, as an Avro type (int and long encode alike,
logical types only annotate): a schema whose field differs is not for the fast path."""


def _encoding(t: Any) -> Any:
    """An Avro type reduced to what decides its binary encoding."""
    if isinstance(t, list):
        return [_encoding(x) for x in t]
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "record":
            return {
                "type": "record",
                "fields": [[f["name"], _encoding(f["type"])] for f in t.get("fields", [])],
            }
        if kind == "array":
            return {"type": "array", "items": _encoding(t.get("items"))}
        return _encoding(kind)
    return "long" if t == "int" else t


def schema_field_ids(raw_schema: dict[str, Any]) -> tuple[int, ...] | None:
    """The C field ids in the schema's order, or None if the C encoder cannot write it."""
    if _fastmrt is None:
        return None
    ids: list[int] = []
    for field in raw_schema.get("fields", []):
        name = field.get("name")
        if name not in EXPECTED_TYPES or name not in _fastmrt.FIELDS:
            return None
        if _encoding(field.get("type")) != _encoding(EXPECTED_TYPES[name]):
            return None
        ids.append(_fastmrt.FIELDS.index(name))
    return tuple(ids)


def available() -> bool:
    """Whether the fast path can write the current row schema."""
    from cloudz.warehouse.schema import raw_avro_schema

    return schema_field_ids(raw_avro_schema()) is not None


def _long(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _bytes(b: bytes) -> bytes:
    return _long(len(b)) + b


def container_header(schema: dict[str, Any], codec: str, sync: bytes) -> bytes:
    """An Avro object container file's header (Avro 1.11 spec, "Object Container Files"):
    magic, the metadata map (the schema as JSON, the codec), the sync marker."""
    meta = {b"avro.schema": json.dumps(schema).encode(), b"avro.codec": codec.encode()}
    entries = b"".join(_bytes(k) + _bytes(v) for k, v in meta.items())
    return b"Obj\x01" + _long(len(meta)) + entries + _long(0) + sync


class _TailStream:
    """The bytes the C framer did not consume, then the rest of the stream: for read_records."""

    def __init__(self, stream: DecompressedStream, offset: int, head: bytes) -> None:
        self._stream = stream
        self._head = head
        self.position = offset

    @property
    def kind(self) -> str:
        return self._stream.kind

    @property
    def error(self) -> str | None:
        return self._stream.error

    def read(self, n: int) -> bytes:
        out = self._head[:n]
        self._head = self._head[n:]
        if len(out) < n:
            out += self._stream.read(n - len(out))
        self.position += len(out)
        return out


def _wanted(stream: DecompressedStream) -> int:
    """The next read of :meth:`_Run.convert`: a chunk, never past the stream's limit (a read
    beyond it raises when the stream has more, which the reference engine does only when a
    record needs those bytes)."""
    if stream.max_bytes is None:
        return READ_SIZE
    return max(1, min(READ_SIZE, stream.max_bytes - stream.position))


def read_ahead_wanted(stream: DecompressedStream) -> bool:
    """Decompress in a second thread only when this process may use a second core and there is
    decompression to overlap (bz2 is ~80% of a RIB's conversion on one core, bench/README.md)."""
    return stream.kind != "raw" and len(os.sched_getaffinity(0)) > 1


def bz2_threads() -> int:
    """Threads to decode a bz2 file's blocks: ``$CLOUDZ_BZ2_THREADS`` (:data:`BZ2_THREADS_ENV`),
    at most the cores this process may use."""
    try:
        wanted = int(os.environ.get(BZ2_THREADS_ENV, "1"))
    except ValueError:
        wanted = 1
    return max(1, min(len(os.sched_getaffinity(0)), wanted))


class _ReadAhead:
    """The chunks :meth:`_Run.convert` reads, decompressed by a second thread meanwhile.

    bz2 and zlib release the GIL while they decompress, so with a free core the conversion
    costs about the decompression alone. The thread makes exactly the reads the converter would
    make, in order, at most :data:`READ_AHEAD` chunks ahead; an exception a read raised is
    raised where the converter would have met it. :meth:`stop` hands back what was read past
    the point where the converter stopped, so nothing is lost or seen twice.
    """

    def __init__(self, stream: DecompressedStream) -> None:
        self._stream = stream
        self._items: queue.SimpleQueue[tuple[int, bytes | BaseException]] = queue.SimpleQueue()
        self._room = threading.Semaphore(READ_AHEAD)
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="mrt-read-ahead", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            self._room.acquire()
            if self._stopping:
                return
            want = _wanted(self._stream)
            item: bytes | BaseException
            try:
                item = self._stream.read(want)
            except BaseException as e:  # handed to the converter's thread, raised there
                item = e
            self._items.put((want, item))
            if isinstance(item, BaseException) or len(item) < want:
                return

    def next(self) -> tuple[int, bytes]:
        """(bytes asked for, bytes read): the converter's next read."""
        want, item = self._items.get()
        self._room.release()
        if isinstance(item, BaseException):
            raise item
        return want, item

    def stop(self) -> bytes:
        """End the thread; the bytes it read that :meth:`next` did not hand out."""
        self._stopping = True
        self._room.release()
        self._thread.join()
        rest = bytearray()
        while not self._items.empty():
            _, item = self._items.get()
            if isinstance(item, BaseException):
                break  # never reached: the stream is as if never asked
            rest += item
        return bytes(rest)


class _Run:
    """One conversion: the C converter, the reference builder for the records it hands back."""

    def __init__(
        self,
        schema: dict[str, Any],
        ids: tuple[int, ...],
        f: BinaryIO,
        *,
        collector: str,
        source_path: str,
        source_sha256: str,
        codec: str,
        level: int,
        block_size: int,
        limits: Limits,
        time_window: tuple[int, int] | None = None,
    ) -> None:
        if codec == "zstandard" and _zstd is None:
            raise ValueError("codec zstandard needs backports.zstd (Python < 3.14)")
        if codec not in ("zstandard", "deflate"):
            raise ValueError(f"unsupported codec {codec!r}")
        self.codec = codec

        assert _fastmrt is not None
        self.conv = _fastmrt.Converter(
            ids,
            collector,
            source_path,
            source_sha256,
            sorted(KNOWN_TYPES),
            MAX_RECORD_LEN,
            block_size,
            limits.max_rowless_run,
        )
        self.limits = limits
        self.time_window = time_window
        self.conv.set_time_window(time_window)
        #: the reference's row builder, made at the first record handed back that needs it
        self._builder: RowBuilder | None = None
        #: the last PEER_INDEX_TABLE read here, for a builder made after it
        self._peers: list[Peer] | None = None
        #: records the reference dropped whole, by reason (the C side only hands records back)
        self.drops: Counter[str] = Counter()
        #: time range of the rows the reference encoded (the C side keeps its own)
        self.time_range: tuple[int, int] | None = None
        self.per_file = {
            "collector": collector,
            "source_path": source_path,
            "source_sha256": source_sha256,
        }
        self.f = f
        self.level = level
        # one compressor for every block: a new one per block allocates (and page-faults) its
        # context each time; each block is still one whole frame, byte for byte as
        # ``zstd.compress`` writes it (a single FLUSH_FRAME call pledges the input's size)
        self._zstd_comp = _zstd.ZstdCompressor(level=level) if codec == "zstandard" else None
        self.sync = os.urandom(16)
        f.write(container_header(schema, codec, self.sync))

    def _compress(self, data: bytes) -> bytes:
        if self._zstd_comp is not None:
            block: bytes = self._zstd_comp.compress(data, mode=_zstd.ZstdCompressor.FLUSH_FRAME)
            return block
        if _libdeflate is not None:
            return bytes(_libdeflate(data, self.level))
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        return comp.compress(data) + comp.flush()

    def flush(self) -> None:
        data, n = self.conv.take_block()
        if not n:
            return
        block = self._compress(data)
        self.f.write(_long(n) + _long(len(block)))
        self.f.write(block)
        self.f.write(self.sync)

    @property
    def builder(self) -> RowBuilder:
        if self._builder is None:
            from cloudz.convert.rows import RowBuilder

            self._builder = RowBuilder()
            self._builder.peers = self._peers
        return self._builder

    def reference(self, record: MrtRecord) -> None:
        """Convert one record with the Python row builder, into the current block."""
        if record.type == TABLE_DUMP_V2 and record.subtype == PEER_INDEX_TABLE:
            try:  # no rows: what the builder would do, without importing it
                self._peers = decode_peer_index(record.raw[HEADER_LEN:])
            except RecordDecodeError as e:
                self.conv.add_parse_error()
                self.drops[e.reason] += 1
                return
            if self._builder is not None:
                self._builder.peers = self._peers
            self.conv.set_peers(self._peers)
            return
        try:
            rows = self.builder.rows(record)
        except RecordDecodeError as e:
            self.conv.add_parse_error()
            self.drops[e.reason] += 1
            rows = []
        if rows and self.time_window is not None:
            lo, hi = self.time_window
            kept = [row for row in rows if lo <= row["timestamp"] < hi]
            self.conv.add_time_dropped(len(rows) - len(kept))
            rows = kept
        if not rows:
            return
        import fastavro

        from cloudz.warehouse.schema import avro_schema

        schema = avro_schema()
        buf = io.BytesIO()
        base = self.conv.rows
        for i, row in enumerate(rows):
            row.update(self.per_file)
            row["record_index"] = record.index
            row["row_index"] = base + i
            self.time_range = widen(self.time_range, row["timestamp"])
            fastavro.schemaless_writer(buf, schema, row)
        self.conv.add_rows(buf.getvalue(), len(rows))

    def drain(self) -> bool:
        """Convert the buffered whole records; True when framing must stop (damage).

        Raises :class:`LimitExceeded` when too many records in a row gave no rows."""
        assert _fastmrt is not None
        conv = self.conv
        while True:
            status = conv.run()
            if status == _fastmrt.NEED:
                return False
            if status == _fastmrt.BLOCK:
                self.flush()
            elif status == _fastmrt.FALLBACK:
                index, offset, ts, t, st, raw = conv.pending()
                self.reference(MrtRecord(index, offset, ts, t, st, raw))
            elif status == _fastmrt.LIMIT:
                raise self.limits.rowless_error(*conv.rowless)
            else:
                return True

    def convert(self, stream: DecompressedStream, *, read_ahead: bool = False) -> ConversionReport:
        """``read_ahead``: decompress in a second thread (:class:`_ReadAhead`); same rows."""
        damage: list[Damage] = []
        ahead = _ReadAhead(stream) if read_ahead else None
        try:
            while True:
                if ahead is None:
                    want = _wanted(stream)
                    chunk = stream.read(want)
                else:
                    want, chunk = ahead.next()
                self.conv.feed(chunk)
                stop = self.drain()
                self.limits.check_rows(self.conv.rows + self.conv.time_dropped, stream)
                if stop or len(chunk) < want:
                    break
        finally:
            extra = ahead.stop() if ahead is not None else b""
        offset, rest = self.conv.leftover()
        rest += extra
        base = self.conv.records
        for record in read_records(_TailStream(stream, offset, rest), damage):
            self.conv.add_record(record.offset)
            self.reference(
                MrtRecord(
                    base + record.index,
                    record.offset,
                    record.timestamp,
                    record.type,
                    record.subtype,
                    record.raw,
                )
            )
            if self.conv.rowless[0] > self.limits.max_rowless_run:
                raise self.limits.rowless_error(*self.conv.rowless)
            self.limits.check_rows(self.conv.rows + self.conv.time_dropped, stream)
        self.limits.check_rows(self.conv.rows + self.conv.time_dropped, stream, final=True)
        self.flush()
        return ConversionReport(
            rows=self.conv.rows,
            records=self.conv.records,
            parse_errors=self.conv.parse_errors,
            damage=damage[0] if damage else None,
            time_range=merge(self.time_range, self.conv.time_range),
            masked_prefixes=self.conv.masked_prefixes
            + (self._builder.notes.masked_prefixes if self._builder else 0),
            repairs=dict(self._builder.notes.repairs) if self._builder else {},
            drops=dict(self.drops),
            time_dropped=self.conv.time_dropped,
            time_window=self.time_window,
        )


def convert_file_fast(
    src: Path,
    dst: Path,
    *,
    collector: str,
    source_path: str,
    source_sha256: str,
    codec: str = CODEC,
    level: int | None = None,
    block_size: int = BLOCK_SIZE,
    limits: Limits = DEFAULT_LIMITS,
    time_window: tuple[int, int] | None = None,
) -> ConversionReport:
    """``convert_file`` on the compiled path; ValueError if it cannot write the row schema.

    ``codec``: ``"zstandard"`` (:data:`CODEC`, when available) or ``"deflate"``; ``level``
    defaults to :data:`ZSTD_LEVEL` / :data:`DEFLATE_LEVEL`.
    """
    from cloudz.warehouse.schema import raw_avro_schema

    schema = raw_avro_schema()
    ids = schema_field_ids(schema)
    if ids is None:
        raise ValueError("the fast converter cannot write this row schema")
    if level is None:
        level = ZSTD_LEVEL if codec == "zstandard" else DEFLATE_LEVEL
    if _fastmrt is not None:  # the per-step buffers reused, not faulted in anew (module.c)
        _fastmrt.keep_freed_memory()
    with DecompressedStream(src, limits, threads=bz2_threads()) as stream, atomic_output(dst) as f:
        run = _Run(
            schema,
            ids,
            f,
            collector=collector,
            source_path=source_path,
            source_sha256=source_sha256,
            codec=codec,
            level=level,
            block_size=block_size,
            limits=limits,
            time_window=time_window,
        )
        report = run.convert(stream, read_ahead=not stream.parallel and read_ahead_wanted(stream))
    return report
