"""The RouteViews archive over HTTP: Apache index pages and plain file downloads.

``HttpArchive("https://archive.routeviews.org/")`` lists a collector's months from
``<archive_dir>/``, the files of a month from ``<archive_dir>/YYYY.MM/{RIBS,UPDATES}/``, and
downloads a file to a temporary copy while hashing it. Every request has timeouts and is
retried (``RetryPolicy``) on connection errors, timeouts, 429 and 5xx; a month's pages are read
by a small thread pool (``max_concurrency``), so a long range is listed in parallel without
flooding the archive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, TypeVar
from urllib.parse import quote

import httpx

from cloudz.sources.collectors import Collector
from cloudz.sources.files import (
    ALL_KINDS,
    CHUNK_BYTES,
    FetchedFile,
    FileKind,
    HashingTempFile,
    Month,
    SkippedFile,
    SourceError,
    SourceFile,
    as_utc,
    make_source_file,
    months_to_scan,
    split_listing,
)
from cloudz.sources.index_page import parse_index_page
from cloudz.sources.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = httpx.Timeout(60.0, connect=10.0)
USER_AGENT: Final = "routeviews-cloudz-mirror/0.1"
_T = TypeVar("_T")


class _Retryable(Exception):
    """An answer worth asking again for (5xx, 429, a body cut short)."""


class HttpArchive:
    """An archive served over HTTP with Apache "Index of" pages (archive.routeviews.org)."""

    def __init__(
        self,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_concurrency: int = 4,
        temp_dir: Path | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max_concurrency
        self.temp_dir = temp_dir
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            # the file's own bytes: no on-the-fly compression to undo (or to get wrong)
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            limits=httpx.Limits(max_connections=max_concurrency + 1),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpArchive:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def describe(self) -> str:
        return self.base_url

    # -- listing ---------------------------------------------------------------------------

    def dir_url(self, collector: Collector, *parts: str) -> str:
        """The URL of a directory of ``collector``, ending in '/'."""
        path = "/".join([collector.archive_dir, *parts])
        return f"{self.base_url}{quote(path)}/"

    def list_months(self, collector: Collector) -> list[Month]:
        """The month directories the archive holds for ``collector``, oldest first."""
        url = self.dir_url(collector)
        entries = parse_index_page(self._get_text(url, missing_ok=False) or "", url)
        return sorted(m for e in entries if e.is_dir and (m := Month.parse(e.name)) is not None)

    def list_files(
        self,
        collector: Collector,
        start: date | datetime,
        end: date | datetime,
        kinds: Collection[FileKind] = ALL_KINDS,
        skipped: list[SkippedFile] | None = None,
    ) -> list[SourceFile]:
        """The dumps of ``collector`` named in ``[start, end)``, in dump-time order; the names
        the archive's rules refuse are appended to ``skipped`` (those named in the range)."""
        lo, hi = as_utc(start), as_utc(end)
        months = months_to_scan(self.list_months(collector), lo, hi)
        tasks = [(m, k) for m in months for k in ALL_KINDS if k in kinds]
        found: list[SourceFile | SkippedFile] = []
        for files in self._parallel(lambda t: self._list_dir(collector, *t), tasks):
            found.extend(files)
        return split_listing(found, lo, hi, skipped)

    def _list_dir(
        self, collector: Collector, month: Month, kind: FileKind
    ) -> list[SourceFile | SkippedFile]:
        url = self.dir_url(collector, str(month), kind.value)
        # the month is listed, so a missing RIBS/ or UPDATES/ is a month without that kind
        html = self._get_text(url, missing_ok=True)
        if html is None:
            return []
        out: list[SourceFile | SkippedFile] = []
        for e in parse_index_page(html, url):
            if e.is_dir or e.size is None:
                continue
            f = make_source_file(
                collector=collector.name,
                kind=kind,
                name=e.name,
                month=month,
                size=e.size,
                size_exact=e.size_exact,
                source=url + quote(e.name),
                modified=e.modified,
                pacific_names_before=collector.pacific_names_before,
            )
            if isinstance(f, SkippedFile):
                log.warning("%s: skipping %r: %s", url, e.name, f.reason)
            out.append(f)
        return out

    def _parallel(
        self, work: Callable[[tuple[Month, FileKind]], _T], tasks: list[tuple[Month, FileKind]]
    ) -> Iterator[_T]:
        """``work`` over ``tasks`` with at most ``max_concurrency`` at once; first error wins."""
        if len(tasks) <= 1 or self.max_concurrency == 1:
            yield from map(work, tasks)
            return
        with ThreadPoolExecutor(
            max_workers=min(self.max_concurrency, len(tasks)), thread_name_prefix="list"
        ) as pool:
            futures = [pool.submit(work, t) for t in tasks]
            try:
                for fut in futures:
                    yield fut.result()
            finally:
                for fut in futures:
                    fut.cancel()

    # -- requests --------------------------------------------------------------------------

    def _attempts(self, url: str, what: Callable[[], _T]) -> _T:
        """Run ``what`` until it succeeds, retrying the retryable; a clear error at the end."""
        delays = self.retry.delays()
        tries = 0
        while True:
            tries += 1
            try:
                return what()
            except (httpx.TransportError, _Retryable) as e:
                reason = _describe(e)
            except httpx.HTTPError as e:  # too many redirects, an undecodable body: final
                raise SourceError(f"GET {url}: {_describe(e)}", url=url) from e
            delay = next(delays, None)
            if delay is None:
                raise SourceError(f"GET {url} failed after {tries} tries (last: {reason})", url=url)
            log.info("GET %s: %s; try %d again in %.2f s", url, reason, tries + 1, delay)
            self._sleep(delay)

    def _get_text(self, url: str, *, missing_ok: bool) -> str | None:
        def get() -> str | None:
            resp = self._client.get(url)
            if resp.status_code == 404 and missing_ok:
                return None
            _check(resp, url)
            return resp.text

        return self._attempts(url, get)

    def fetch_to_temp(self, file: SourceFile) -> FetchedFile:
        """Download ``file`` to a temporary copy, hashing it on the way (retried from byte 0)."""
        out = HashingTempFile(self.temp_dir)

        def download() -> FetchedFile:
            out.restart()
            with self._client.stream("GET", file.source) as resp:
                _check(resp, file.source)
                # raw: the bytes as served (identity was asked for), never decoded
                for chunk in resp.iter_raw(CHUNK_BYTES):
                    out.write(chunk)
                expected = resp.headers.get("Content-Length")
                if expected is not None and expected.isdigit() and int(expected) != out.size:
                    raise _Retryable(f"body cut short: {out.size} of {expected} bytes")
            return out.keep(file)

        try:
            return self._attempts(file.source, download)
        except BaseException:
            out.discard()
            raise


def _check(resp: httpx.Response, url: str) -> None:
    """Raise ``_Retryable`` for 429/5xx and ``SourceError`` for any other non-200 answer."""
    if resp.status_code == 200:
        return
    if resp.status_code == 429 or resp.status_code >= 500:
        raise _Retryable(f"HTTP {resp.status_code} {resp.reason_phrase}")
    raise SourceError(f"GET {url}: HTTP {resp.status_code} {resp.reason_phrase}", url=url)


def _describe(e: Exception) -> str:
    if isinstance(e, _Retryable):
        return str(e)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
