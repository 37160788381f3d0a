"""The BigQuery emulator's Avro load in bounded memory, installed when the emulator starts.

local-bigquery 0.4.0 loads Avro by reading the whole object into memory, turning every row
into a Python dict with fastavro and building an Arrow table from them: ~1.7 KB of memory and
~10x the converter's CPU per row, so a real RIB (10-50M rows) grew the emulator to 18 GB and
the kernel killed it. This replaces that path for Avro loads with logical types (what the
pipeline sends, as BigQuery wants it): the object is streamed from the object store, re-blocked
into uncompressed chunks (:mod:`cloudz.stack.avro_chunks`) one or two ahead of the reader, and
each chunk is inserted with DuckDB's own ``read_avro`` (C++, no Python objects per row), all
chunks in one transaction, so a load is still all or nothing. DuckDB runs under a memory limit
and spills to disk beyond it. Every other job is the emulator's own code.

Runs in the emulator's interpreter (``.venv-bq``, Python 3.13): it imports ``local_bigquery``
and ``duckdb`` from there and nothing of the project but :mod:`cloudz.stack.avro_chunks`.
Settings (environment of the emulator process): ``CLOUDZ_BQ_MEMORY_LIMIT`` (DuckDB's
``memory_limit``, default ``1GB``), ``CLOUDZ_BQ_LOAD_CHUNK_MIB`` (uncompressed row bytes per
chunk, default 64).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import queue
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cloudz.stack.avro_chunks import AvroContainerError, Chunk, chunks

MEMORY_LIMIT_ENV = "CLOUDZ_BQ_MEMORY_LIMIT"
CHUNK_MIB_ENV = "CLOUDZ_BQ_LOAD_CHUNK_MIB"
#: chunks written ahead of the one DuckDB reads: enough to overlap download and decompression
#: with the insert, few enough that temporary disk stays a few chunks
PREFETCH_CHUNKS = 2
_READ_BUFFER = 1 << 20
_EXTENSION = "avro"

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
        con.execute(f"LOAD {_EXTENSION}")
        return con

    database._connect = limited_connect
    original = load.run

    def run(cur: Any, config: Any, upload: str | None) -> Any:
        if (config.sourceFormat or "CSV") == "AVRO" and config.useAvroLogicalTypes:
            return run_avro(cur, config, upload)
        return original(cur, config, upload)

    load.run = run
    runner.HANDLERS["load"] = run


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
        response: BinaryIO = urllib.request.urlopen(url)
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
        with urllib.request.urlopen(f"{endpoint}/storage/v1/b/{bucket}/o?{query}") as answer:
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


class _Prefetch:
    """Writes the sources' chunks in a thread, ``PREFETCH_CHUNKS`` ahead of the reader."""

    def __init__(self, opened: list[tuple[str, Opener]], directory: Path, chunk_bytes: int):
        self._queue: queue.Queue[tuple[str, Chunk] | BaseException | None] = queue.Queue(
            PREFETCH_CHUNKS
        )
        self._stop = threading.Event()
        self.input_bytes = 0
        self._thread = threading.Thread(
            target=self._produce, args=(opened, directory, chunk_bytes), daemon=True
        )
        self._thread.start()

    def _put(self, item: tuple[str, Chunk] | BaseException | None) -> bool:
        while not self._stop.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.2)
                return True
        return False

    def _produce(self, opened: list[tuple[str, Opener]], directory: Path, size: int) -> None:
        try:
            for uri, opener in opened:
                counted = _Counted(opener())
                try:
                    stream = io.BufferedReader(counted, _READ_BUFFER)
                    for chunk in chunks(stream, directory, size):
                        if not self._put((uri, chunk)):
                            return
                finally:
                    self.input_bytes += counted.count
                    counted.close()
            self._put(None)
        except BaseException as error:  # handed to the reader, which raises it
            self._put(error)

    def __iter__(self) -> Iterator[tuple[str, Chunk]]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def run_avro(cur: Any, config: Any, upload: str | None) -> Any:
    """A load job of Avro sources: local_bigquery's ``load.run`` in bounded memory."""
    from local_bigquery.catalog import datasets, names, tables
    from local_bigquery.engine import database, results
    from local_bigquery.errors import DUCKDB_PREFIX, BigQueryError
    from local_bigquery.jobs import load
    from local_bigquery.jobs.storage import literal
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
    chunk_bytes = int(os.environ.get(CHUNK_MIB_ENV, "64")) << 20
    work = Path(tempfile.mkdtemp(dir=_scratch("load-chunks")))
    prefetch = _Prefetch(opened, work, chunk_bytes)
    total = 0
    created = False
    projection = "*"
    current = ""
    try:
        cur.execute("BEGIN TRANSACTION")
        for index, (uri, chunk) in enumerate(prefetch):
            current = uri
            reader = f"read_avro({literal(str(chunk.path))})"
            if index == 0:
                columns = cur.sql(f"SELECT * FROM {reader} LIMIT 0").columns
                projection, _ = load._projection(config, fields, columns)
                query = f"SELECT {projection} FROM {reader}"
                created = tables.write(cur, query, None, reference, config, "WRITE_APPEND", prefix)
            elif chunk.rows:
                with database.writing(*reference):
                    results.materialise(
                        cur,
                        f"SELECT {projection} FROM {reader}",
                        tables.name(*reference),
                        None,
                        True,
                    )
            total += chunk.rows
            chunk.path.unlink()
        cur.execute("COMMIT")
    except BaseException as error:
        with contextlib.suppress(Exception):
            cur.execute("ROLLBACK")
        if isinstance(error, AvroContainerError):
            raise BigQueryError(
                "invalid", f"Error while reading data, error message: {error} File: {current}"
            ) from None
        if type(error).__module__.startswith(("duckdb", "_duckdb")):
            message = DUCKDB_PREFIX.sub("", str(error).split("\n")[0])
            message = re.sub(r' in file "[^"]*"', f" in file {current}", message)
            raise BigQueryError(
                "invalid", f"Error while reading data, error message: {message}"
            ) from None
        raise
    finally:
        prefetch.close()
        shutil.rmtree(work, ignore_errors=True)
    if created and fields:
        from local_bigquery.models import Table

        tables.annotate(reference, Table(schema=config.schema_))
    output = tables.logical_bytes(total, len(tables.columns(*reference)))
    return JobStatistics3(
        inputFiles=str(len(opened)),
        inputFileBytes=str(prefetch.input_bytes),
        outputRows=str(total),
        outputBytes=str(output),
        badRecords="0",
    )
