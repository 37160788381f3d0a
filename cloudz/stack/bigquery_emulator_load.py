"""The BigQuery emulator's Avro load in bounded memory, installed when the emulator starts.

local-bigquery 0.4.0 loads Avro by reading the whole object into memory, turning every row
into a Python dict with fastavro and building an Arrow table from them: ~1.7 KB of memory and
~10x the converter's CPU per row, so a real RIB (10-50M rows) grew the emulator to 18 GB and
the kernel killed it. This replaces that path for Avro loads with logical types (what the
pipeline sends, as BigQuery wants it): the object is streamed from the object store and
re-blocked into uncompressed chunks of ~32 MiB (:mod:`cloudz.stack.avro_chunks`); polars
decodes each chunk to Arrow in native code, a chunk or two ahead of DuckDB, which inserts the
Arrow stream in one statement, so a load is still all or nothing. Decoders measured on the same
1M-row RIB (bench/README.md): fastavro ~10x the converter's CPU per row, DuckDB's ``read_avro``
~1.4x, polars ~0.6x. DuckDB runs under a memory limit and spills to disk beyond it. Every other
job is the emulator's own code.

Runs in the emulator's interpreter (``.venv-bq``, Python 3.13): it imports ``local_bigquery``,
``duckdb``, ``polars`` and ``pyarrow`` from there and nothing of the project but
:mod:`cloudz.stack.avro_chunks`. Settings (environment of the emulator process):
``CLOUDZ_BQ_MEMORY_LIMIT`` (DuckDB's ``memory_limit``, default ``1GB``),
``CLOUDZ_BQ_LOAD_CHUNK_MIB`` (uncompressed row bytes per chunk, default 32).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import queue
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cloudz.stack.avro_chunks import AvroContainerError, buffers

MEMORY_LIMIT_ENV = "CLOUDZ_BQ_MEMORY_LIMIT"
CHUNK_MIB_ENV = "CLOUDZ_BQ_LOAD_CHUNK_MIB"
_READ_BUFFER = 1 << 20
#: a read from the object store that waits this long fails the job (``backendError``), as a
#: stalled read fails a BigQuery load: a hung store must not hang the load for ever
READ_TIMEOUT_SECONDS = 60.0
#: decoded chunks waiting for DuckDB: enough to overlap decoding with the insert
AHEAD_CHUNKS = 2

Opener = Callable[[], BinaryIO]


def apply() -> None:
    """Patch local_bigquery: DuckDB's memory limit and spill folder, and the Avro load."""
    from local_bigquery.engine import database
    from local_bigquery.jobs import load, runner

    connect = database._connect

    @functools.cache
    def limited_connect() -> Any:
        con = connect()
        con.execute(f"SET memory_limit = '{os.environ.get(MEMORY_LIMIT_ENV, '1GB')}'")
        spill = _scratch("spill")
        con.execute(f"SET temp_directory = '{spill}'")
        return con

    database._connect = limited_connect
    original = load.run

    def run(cur: Any, config: Any, upload: str | None) -> Any:
        if (config.sourceFormat or "CSV") == "AVRO" and config.useAvroLogicalTypes:
            return run_avro(cur, config, upload)
        return original(cur, config, upload)

    load.run = run
    runner.HANDLERS["load"] = run


#: the name the Arrow stream of a load is registered under on the job's cursor
SOURCE = "_cloudz_load_source"


def _scratch(name: str) -> Path:
    from local_bigquery.settings import settings

    path = Path(settings.data_dir) / "_cloudz" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class _Counted(io.RawIOBase):
    """A readable stream that counts the bytes read through it (the job's inputFileBytes)."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def _open_local(path: str) -> BinaryIO:
    return open(path, "rb")


def _http_get(url: str, uri: str) -> BinaryIO:
    from local_bigquery.errors import BigQueryError

    try:
        response: BinaryIO = urllib.request.urlopen(url, timeout=READ_TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 404:
            raise BigQueryError("notFound", f"Not found: URI {uri}") from None
        raise BigQueryError("invalid", f"Error while reading {uri}: HTTP {error.code}") from None
    return response


def _listed(endpoint: str, bucket: str, pattern: str) -> list[str]:
    """Object names in ``bucket`` matching a ``*`` wildcard, as BigQuery expands them."""
    import json

    prefix = pattern.split("*", 1)[0]
    regex = re.compile(".*".join(map(re.escape, pattern.split("*"))))
    names: list[str] = []
    token = ""
    while True:
        query = urllib.parse.urlencode({"prefix": prefix, "pageToken": token, "fields": ""})
        listing = f"{endpoint}/storage/v1/b/{bucket}/o?{query}"
        with urllib.request.urlopen(listing, timeout=READ_TIMEOUT_SECONDS) as answer:
            page = json.load(answer)
        names += [item["name"] for item in page.get("items", []) if regex.fullmatch(item["name"])]
        token = page.get("nextPageToken") or ""
        if not token:
            return sorted(names)


def sources(uri: str) -> list[tuple[str, Opener]]:
    """What a source URI names: (URI of each object, how to open it for streaming)."""
    from local_bigquery.errors import BigQueryError
    from local_bigquery.jobs import storage

    endpoint = storage._emulator(uri)
    if endpoint is None:
        return [(uri, functools.partial(_open_local, path)) for path in storage._matches(uri)]
    endpoint = endpoint.rstrip("/")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    names = _listed(endpoint, bucket, name) if "*" in name else [name]
    if not names:
        raise BigQueryError("notFound", f"Not found: URI {uri}")
    found: list[tuple[str, Opener]] = []
    for each in names:
        url = f"{endpoint}/storage/v1/b/{bucket}/o/{urllib.parse.quote(each, safe='')}?alt=media"
        found.append((f"gs://{bucket}/{each}", functools.partial(_http_get, url, uri)))
    return found


def rib_niceness(uris: list[str]) -> int:
    """The CPU niceness a load's decoding thread takes: ``CLOUDZ_RIB_NICE`` when every source
    is a RIB's rows, else 0.

    A RIB's conversion task already yields the CPU to the update files' tasks
    (``convert_step.yield_cpu_if_rib``); its load, minutes of decoding in this one process
    beside the update files' loads, does the same, so at the even hour the update files'
    loads are not queued behind 58 RIBs' on the host's cores.
    """
    from cloudz.archive import paths
    from cloudz.settings import Settings

    def is_rib(uri: str) -> bool:
        source = paths.source_of_uri(uri)
        return source is not None and "/RIBS/" in source[1]

    return Settings.from_env().rib_nice if uris and all(map(is_rib, uris)) else 0


class _Decoded:
    """The sources as Arrow record batches, decoded by polars in a thread, a chunk at a time.

    The thread is the job's own, so a niceness given to it ends with the job."""

    def __init__(
        self, opened: list[tuple[str, Opener]], chunk_bytes: int, niceness: int = 0
    ) -> None:
        self._queue: queue.Queue[tuple[str, Any] | BaseException | None] = queue.Queue(AHEAD_CHUNKS)
        self._stop = threading.Event()
        self.input_bytes = 0
        self.rows = 0
        self.uri = ""
        self._first: tuple[str, Any] | None = None
        self._thread = threading.Thread(
            target=self._produce, args=(opened, chunk_bytes, niceness), daemon=True
        )
        self._thread.start()

    def _put(self, item: tuple[str, Any] | BaseException | None) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.2)
                return True
        return False

    def _produce(self, opened: list[tuple[str, Opener]], chunk_bytes: int, niceness: int) -> None:
        if niceness > 0:  # this thread only (Linux: a thread's niceness is its own)
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
        try:
            import polars as pl

            for uri, opener in opened:
                counted = _Counted(opener())
                try:
                    stream = io.BufferedReader(counted, _READ_BUFFER)
                    for buffer in buffers(stream, chunk_bytes):
                        frame = pl.read_avro(io.BytesIO(buffer))
                        table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
                        if not self._put((uri, table)):
                            return
                finally:
                    self.input_bytes += counted.count
                    counted.close()
            self._put(None)
        except BaseException as error:  # handed to the reader, which raises it
            self._put(error)

    def _next(self) -> tuple[str, Any] | None:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def schema(self) -> Any:
        """The first chunk's Arrow schema (every chunk is cast to it)."""
        if self._first is None:
            self._first = self._next()
            if self._first is None:
                raise AvroContainerError("no source object")
        return self._first[1].schema

    def batches(self) -> Iterator[Any]:
        schema = self.schema()
        item = self._first
        while item is not None:
            self.uri, table = item
            if table.schema != schema:
                table = table.cast(schema)
            self.rows += table.num_rows
            yield from table.to_batches()
            item = self._next()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def run_avro(cur: Any, config: Any, upload: str | None) -> Any:
    """A load job of Avro sources: local_bigquery's ``load.run`` in bounded memory."""
    import pyarrow as pa
    from local_bigquery.catalog import datasets, names, tables
    from local_bigquery.errors import DUCKDB_PREFIX, BigQueryError
    from local_bigquery.jobs import load
    from local_bigquery.models import JobStatistics3

    reference = tables.reference(config.destinationTable)
    datasets.get(*reference[:2])
    opened: list[tuple[str, Opener]] = (
        [("upload", functools.partial(_open_local, upload))]
        if upload
        else [found for uri in config.sourceUris or [] for found in sources(uri)]
    )
    fields = (config.schema_ and config.schema_.fields) or []
    prefix = f"Provided Schema does not match Table {names.label(*reference)}. "
    chunk_bytes = int(os.environ.get(CHUNK_MIB_ENV, "32")) << 20
    decoded = _Decoded(opened, chunk_bytes, rib_niceness(list(config.sourceUris or [])))
    created = False
    try:
        schema = decoded.schema()
        stream = pa.RecordBatchReader.from_batches(schema, decoded.batches())
        cur.register(SOURCE, stream)
        try:
            projection, _ = load._projection(config, fields, schema.names)
            query = f"SELECT {projection} FROM {SOURCE}"
            created = tables.write(cur, query, None, reference, config, "WRITE_APPEND", prefix)
        finally:
            cur.unregister(SOURCE)
    except (AvroContainerError, pa.ArrowException) as error:
        raise BigQueryError(
            "invalid", f"Error while reading data, error message: {error} File: {decoded.uri}"
        ) from None
    except OSError as error:  # the object store stalled or went away mid-read
        raise BigQueryError(
            "backendError", f"Error while reading data from {decoded.uri or 'the source'}: {error}"
        ) from None
    except Exception as error:
        if not type(error).__module__.startswith(("duckdb", "_duckdb", "polars")):
            raise
        message = DUCKDB_PREFIX.sub("", str(error).split("\n")[0])
        raise BigQueryError(
            "invalid", f"Error while reading data, error message: {message} File: {decoded.uri}"
        ) from None
    finally:
        decoded.close()
    if created and fields:
        from local_bigquery.models import Table

        tables.annotate(reference, Table(schema=config.schema_))
    output = tables.logical_bytes(decoded.rows, len(tables.columns(*reference)))
    return JobStatistics3(
        inputFiles=str(len(opened)),
        inputFileBytes=str(decoded.input_bytes),
        outputRows=str(decoded.rows),
        outputBytes=str(output),
        badRecords="0",
    )
