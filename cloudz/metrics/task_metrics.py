"""The tasks' own metrics, sent as StatsD to the stack's bridge (``cloudz.metrics.statsd_bridge``).

Names get the prefix ``cloudz`` and tags go into the name in the InfluxDB style the bridge
and Prometheus' ``statsd_exporter`` both read (``cloudz.files,collector=x,kind=y:1|c``), so
``incr("files", collector="x", kind="y")`` becomes ``cloudz_files_total{collector="x",kind="y"}``.

A metric must never fail or slow the work it measures: StatsD is one UDP datagram per call
with no answer to wait for, the client is made once per process (on first use, so a forked
task process makes its own), and every error of sending is swallowed. Where the metrics go
is ``CLOUDZ_STATSD_HOST`` / ``CLOUDZ_STATSD_PORT`` (``cloudz.settings``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from cloudz.archive.archived_file import ArchivedFile

log = logging.getLogger(__name__)

PREFIX = "cloudz"
#: what would break a line of the protocol (``name,k=v:1|c``) or its ASCII encoding
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")

_client: Any = None
_client_pid = 0


def _statsd() -> Any:
    """This process's client, made on first use; None when it cannot be made."""
    global _client, _client_pid
    if _client_pid != os.getpid():
        _client_pid = os.getpid()
        try:
            from statsd import StatsClient

            from cloudz.settings import Settings

            settings = Settings.from_env()
            _client = StatsClient(settings.statsd_host, settings.statsd_port, prefix=PREFIX)
        except Exception as exc:  # a name that does not resolve, a bad port, no statsd package
            log.warning("no task metrics in this process: %s", exc)
            _client = None
    return _client


def stat(name: str, tags: dict[str, str]) -> str:
    """``name,k=v,...`` with every part made safe for the line protocol (sorted tags)."""
    parts = [_UNSAFE.sub("_", name)]
    parts.extend(
        f"{_UNSAFE.sub('_', k)}={_UNSAFE.sub('_', str(v))}" for k, v in sorted(tags.items())
    )
    return ",".join(parts)


def _send(method: str, name: str, value: float, tags: dict[str, str]) -> None:
    client = _statsd()
    if client is None:
        return
    try:
        getattr(client, method)(stat(name, tags), value)
    except Exception as exc:  # whatever it is, the task goes on without this sample
        log.debug("metric %s not sent: %s", name, exc)


def incr(name: str, count: int = 1, **tags: str) -> None:
    """Add ``count`` to the counter ``name``."""
    _send("incr", name, count, tags)


def gauge(name: str, value: float, **tags: str) -> None:
    """Set the gauge ``name`` to ``value`` (the client sends a negative one as 0, then the
    value: StatsD reads a bare ``-3|g`` as "lower by 3")."""
    _send("gauge", name, value, tags)


def timing(name: str, seconds: float, **tags: str) -> None:
    """One observation of the timer ``name`` (StatsD carries milliseconds)."""
    _send("timing", name, seconds * 1000.0, tags)


@contextlib.contextmanager
def timer(name: str, **tags: str) -> Iterator[None]:
    """Time the block, whether it ends normally or by an exception."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timing(name, time.perf_counter() - start, **tags)


class FileTags(TypedDict):
    """The tags of every per-file metric (typed, so ``incr(name, **tags)`` type-checks)."""

    collector: str
    kind: str


def file_tags(file: ArchivedFile | None) -> FileTags:
    """``collector`` and ``kind`` of a file; ``unknown`` when no file could be told (a
    run whose conf names none fails, and is counted too)."""
    if file is None:
        return FileTags(collector="unknown", kind="unknown")
    return FileTags(collector=file.collector, kind=file.kind)
