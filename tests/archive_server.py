"""A generated RouteViews-style archive on disk, served by a real HTTP server process.

``build_archive(root)`` writes N collectors x days of RIB and UPDATES files made with
``cloudz.mrtgen`` in the archive's layout (route-views2 at the root, ``bgpdata/``, the others
at ``<collector>/bgpdata/``), optionally with one truncated file. ``serve_archive(root)``
starts this module as a separate process that renders directories the way
archive.routeviews.org does (Apache 2.4 mod_autoindex with HTMLTable: the same columns, the
23-character name column, rounded sizes), reading the disk on every request, so a test can
add a file between two listings. ``python -m http.server`` would not do: its listings have
another format, which is exactly what the reader must not accept silently.

Run as a script it is the server: ``python tests/archive_server.py --root DIR --port N``
(``--fail-first K``: answer 503 to the first K requests of every path; ``--fail-always``).
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import hashlib
import html
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from cloudz.sources import Collector

#: mod_autoindex's default NameWidth: longer names are cut to 20 characters and "..>"
NAME_WIDTH: Final = 23
#: the path a test reads the per-path request counts from (never an archive segment)
REQUESTS_PATH: Final = "/__requests__"
DEFAULT_COLLECTORS: Final = ("route-views2", "route-views.sg", "route-views.linx")
DEFAULT_DAYS: Final = (date(2024, 1, 31), date(2024, 2, 1))  # two days across a month edge


# -- the Apache-style listing ----------------------------------------------------------------


def apache_size(size: int) -> str:
    """A size as mod_autoindex prints it (``apr_strfsize``): ``" 14 "``, ``"6.4M"``, ``" 12K"``."""
    if size < 973:
        return f"{size:3d} "
    units = "KMGTPE"
    o = 0
    while True:
        remain = size & 1023
        size >>= 10
        if size >= 973:
            o += 1
            continue
        if size < 9 or (size == 9 and remain < 973):
            remain = (remain * 5 + 256) // 512
            if remain >= 10:
                size, remain = size + 1, 0
            return f"{size}.{remain}{units[o]}"
        if remain >= 512:
            size += 1
        return f"{size:3d}{units[o]}"


def _row(icon: str, alt: str, href: str, text: str, modified: str, size: str) -> str:
    shown = text if len(text) <= NAME_WIDTH else text[: NAME_WIDTH - 3] + "..>"
    pad = " " * (NAME_WIDTH - len(shown))
    return (
        f'<tr><td valign="top"><img src="/icons/{icon}" alt="{alt}"></td>'
        f'<td><a href="{quote(href)}">{html.escape(shown)}</a>{pad}</td>'
        f'<td align="right">{modified}  </td><td align="right">{size}</td><td>&nbsp;</td></tr>'
    )


def render_index(directory: Path, url_path: str) -> str:
    """The "Index of" page of ``directory`` (served at ``url_path``, ending in '/')."""
    title = "Index of " + (url_path.rstrip("/") or "/")
    rows: list[str] = []
    if url_path != "/":
        parent = url_path.rstrip("/").rsplit("/", 1)[0] + "/"
        rows.append(
            '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
            f'<td><a href="{parent}">Parent Directory</a>       </td><td>&nbsp;</td>'
            '<td align="right">  - </td><td>&nbsp;</td></tr>'
        )
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        st = entry.stat()
        modified = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%d %H:%M")
        if entry.is_dir():
            name = entry.name + "/"
            rows.append(_row("folder.gif", "[DIR]", name, name, modified, "  - "))
        else:
            size = apache_size(st.st_size)
            rows.append(_row("unknown.gif", "[   ]", entry.name, entry.name, modified, size))
    body = "\n".join(rows)
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
        f"  <title>{html.escape(title)}</title>\n </head>\n <body>\n<h1>{html.escape(title)}</h1>\n"
        "  <table>\n"
        '   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>'
        '<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>'
        '<th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>\n'
        '   <tr><th colspan="5"><hr></th></tr>\n'
        f"{body}\n"
        '   <tr><th colspan="5"><hr></th></tr>\n</table>\n</body></html>\n'
    )


class _Handler(BaseHTTPRequestHandler):
    server_version = "Apache/2.4"  # what the Server header says; nothing relies on it
    root: Path
    fail_first = 0
    fail_always = False
    counts: Counter[str]
    lock: threading.Lock

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: tests read the request counts instead

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    def _answer(self, *, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == REQUESTS_PATH:
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
            return self._send(HTTPStatus.OK, body, "application/json", head=head)
        with self.lock:
            self.counts[path] += 1
            n = self.counts[path]
        if self.fail_always or n <= self.fail_first:
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"busy\n", "text/plain", head=head)
        target = self._resolve(path)
        if target is None:
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head=head)
        if target.is_dir():
            if not path.endswith("/"):  # as Apache: a directory is served at its '/' URL
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", quote(path + "/"))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            index = target / "index.html"  # DirectoryIndex: a page replaces the listing
            if index.is_file():
                return self._send(HTTPStatus.OK, index.read_bytes(), "text/html", head=head)
            page = render_index(target, path).encode()
            return self._send(HTTPStatus.OK, page, "text/html;charset=UTF-8", head=head)
        data = target.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-bzip2")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Last-Modified", formatdate(target.stat().st_mtime, usegmt=True))
        self.end_headers()
        if not head:
            self.wfile.write(data)
        return None

    def _resolve(self, path: str) -> Path | None:
        if any(seg in ("..", ".") for seg in path.split("/")):
            return None
        target = (self.root / path.lstrip("/")).resolve()
        if target != self.root and self.root not in target.parents:
            return None
        return target if target.exists() else None

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, *, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve ``--root`` on ``127.0.0.1:--port`` until terminated."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-always", action="store_true")
    args = p.parse_args(argv)
    handler = type(
        "Handler",
        (_Handler,),
        {
            "root": args.root.resolve(),
            "fail_first": args.fail_first,
            "fail_always": args.fail_always,
            "counts": Counter(),
            "lock": threading.Lock(),
        },
    )
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.daemon_threads = True
    print(f"serving {args.root} on http://127.0.0.1:{args.port}/", flush=True)
    server.serve_forever()


# -- the generated tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedFile:
    """One file written into the tree, with what a test checks against."""

    collector: str
    kind: str  # "RIBS" or "UPDATES"
    name: str
    archive_path: str  # always <collector>/bgpdata/...
    local_path: Path
    size: int
    sha256: str
    records: int  # complete MRT records in the file
    rows: int  # rows the converter writes for them
    #: set on a truncated file: the MRT byte offset of the record cut short (its damage offset)
    damage_offset: int | None = None


@dataclass(frozen=True)
class TreeCollector:
    name: str
    archive_dir: str  # "bgpdata" for route-views2, else "<name>/bgpdata"
    offset_minutes: int  # cadence not aligned to the clock


@dataclass
class ArchiveTree:
    """A generated archive: where it is, its collectors and every file written."""

    root: Path
    collectors: tuple[TreeCollector, ...]
    files: list[GeneratedFile] = field(default_factory=list)
    rib_peers: int = 4
    rib_prefixes: int = 40
    updates_rows: int = 40
    #: rows of each collector's first RIB of a day when > 0: a real-size RIB (40 full-table
    #: peers sharing attribute sets, as ``mrtgen rib --locality 0.98 --pool 64``), generated
    #: and compressed as a stream, never held in memory
    big_rib_rows: int = 0
    _templates: dict[tuple[str, int], tuple[int, list[tuple[bytes, int]]]] = field(
        default_factory=dict, repr=False
    )

    def collector(self, name: str) -> Collector:
        """The collector as the source readers take it."""
        from cloudz.sources import Collector

        c = next(c for c in self.collectors if c.name == name)
        return Collector(name=c.name, archive_dir=c.archive_dir, first_date=date(2001, 10, 1))

    def add_file(
        self, collector: str, kind: str, when: datetime, *, truncate: bool = False
    ) -> GeneratedFile:
        """Write one more RIB or UPDATES file named for ``when`` (UTC), e.g. between listings."""
        c = next(c for c in self.collectors if c.name == collector)
        stamp = when.astimezone(UTC)
        if kind not in ("RIBS", "UPDATES"):
            raise ValueError(f"kind must be RIBS or UPDATES, not {kind!r}")
        prefix = "rib" if kind == "RIBS" else "updates"
        if kind == "RIBS" and self.big_rib_rows and not truncate and self._first_of_day(c, stamp):
            return self._add_big_rib(c, stamp)
        records, rows = self._records(kind, int(stamp.timestamp()))
        damage_offset: int | None = None
        if truncate:  # a collector that crashed mid-dump: a record is cut in half
            if len(records) < 2:
                raise ValueError("a truncated file needs at least two records")
            keep = max(1, len(records) // 2)
            damage_offset = sum(len(r) for r in records[:keep])
            cut = records[keep][: len(records[keep]) // 2]
            records, rows = records[:keep], rows[:keep]
            raw = b"".join(records) + cut
        else:
            raw = b"".join(records)
        name = f"{prefix}.{stamp:%Y%m%d.%H%M}.bz2"
        month = f"{stamp:%Y.%m}"
        local = self.root / c.archive_dir / month / kind / name
        local.parent.mkdir(parents=True, exist_ok=True)
        data = bz2.compress(raw, 6)
        tmp = local.with_name("." + name)  # whole files only: a listing never sees half of one
        tmp.write_bytes(data)
        os.replace(tmp, local)
        f = GeneratedFile(
            collector=c.name,
            kind=kind,
            name=name,
            archive_path=f"{c.name}/bgpdata/{month}/{kind}/{name}",
            local_path=local,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            records=len(records),
            rows=sum(rows),
            damage_offset=damage_offset,
        )
        self.files.append(f)
        return f

    def _first_of_day(self, c: TreeCollector, stamp: datetime) -> bool:
        return not any(
            f.collector == c.name and f.kind == "RIBS" and f.name[4:12] == f"{stamp:%Y%m%d}"
            for f in self.files
        )

    def _add_big_rib(self, c: TreeCollector, stamp: datetime) -> GeneratedFile:
        """A real-size RIB at ``stamp`` (``big_rib_rows``), streamed to its bz2 file."""
        from cloudz.mrtgen import RibSpec, generate_rib, write_file

        peers = 40
        spec = RibSpec(
            peers=peers, prefixes=max(1, self.big_rib_rows // peers),
            seed=int(stamp.timestamp()) + sum(c.name.encode()),
            timestamp=int(stamp.timestamp()), peer_presence=1.0, addpath_share=0.0,
            multicast_share=0.0, generic_share=0.0, locality=0.98, pool=64,
        )  # fmt: skip
        name = f"rib.{stamp:%Y%m%d.%H%M}.bz2"
        month = f"{stamp:%Y.%m}"
        local = self.root / c.archive_dir / month / "RIBS" / name
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name("." + name)
        written = write_file(tmp, generate_rib(spec))
        os.replace(tmp, local)
        digest = hashlib.sha256()
        with local.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        f = GeneratedFile(
            collector=c.name,
            kind="RIBS",
            name=name,
            archive_path=f"{c.name}/bgpdata/{month}/RIBS/{name}",
            local_path=local,
            size=local.stat().st_size,
            sha256=digest.hexdigest(),
            records=written.records,
            rows=written.rows,
        )
        self.files.append(f)
        return f

    def _records(self, kind: str, ts: int) -> tuple[list[bytes], list[int]]:
        """The MRT records of a file at ``ts`` and their rows: one of three generated
        templates per kind, re-stamped (each record header's time moved by ``ts - template``).

        Generating every file from scratch costs ~50 ms each (the generator's pools), 30 s for
        two days of three collectors; re-stamping keeps files distinct (their bytes and times
        differ) and valid (only header timestamps change) at a fraction of that.
        """
        from cloudz.mrtgen import RibSpec, UpdatesSpec, generate_rib, generate_updates

        variant = 1 + (ts // 900) % 3
        key = (kind, variant)
        if key not in self._templates:
            base = 1_000_000_000  # 2001-09-09: any file's time is later, so deltas are >= 0
            if kind == "RIBS":
                spec_r = RibSpec(
                    peers=self.rib_peers, prefixes=self.rib_prefixes, seed=variant, timestamp=base
                )
                made = list(generate_rib(spec_r))
            else:
                spec_u = UpdatesSpec(rows=self.updates_rows, seed=variant, timestamp=base, peers=4)
                made = list(generate_updates(spec_u))
            self._templates[key] = (base, [(r.data, r.rows) for r in made])
        base, template = self._templates[key]
        out = []
        for data, _ in template:
            (t,) = struct.unpack_from(">I", data)
            out.append(struct.pack(">I", t + ts - base) + data[4:])
        return out, [rows for _, rows in template]

    def by_archive_path(self) -> dict[str, GeneratedFile]:
        return {f.archive_path: f for f in self.files}


def build_archive(
    root: Path,
    *,
    collectors: Sequence[str] = DEFAULT_COLLECTORS,
    days: Sequence[date] = DEFAULT_DAYS,
    rib_every: timedelta = timedelta(hours=2),
    updates_every: timedelta = timedelta(minutes=15),
    truncated: bool = True,
    route_views2_alias: bool = True,
    rib_peers: int = 4,
    rib_prefixes: int = 40,
    updates_rows: int = 40,
    big_rib_rows: int = 0,
) -> ArchiveTree:
    """Write the archive tree under ``root``; see the module docstring.

    Collector ``i`` starts its cadence ``[0, 7, 11, ...][i]`` minutes past midnight (RouteViews'
    daemons rotate from when they started). With ``truncated``, the middle UPDATES file of the
    last collector's first day is cut inside a record. With ``route_views2_alias`` the tree
    also serves route-views2 at ``route-views2/bgpdata`` (a symlink), as the archive has
    since 2026.
    """
    offsets = [0, 7, 11, 3, 13, 5]
    tree = ArchiveTree(
        root=root,
        collectors=tuple(
            TreeCollector(
                name=name,
                archive_dir="bgpdata" if name == "route-views2" else f"{name}/bgpdata",
                offset_minutes=offsets[i % len(offsets)],
            )
            for i, name in enumerate(collectors)
        ),
        rib_peers=rib_peers,
        rib_prefixes=rib_prefixes,
        updates_rows=updates_rows,
        big_rib_rows=big_rib_rows,
    )
    root.mkdir(parents=True, exist_ok=True)
    for c in tree.collectors:
        for n, day in enumerate(days):
            midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
            for kind, every in (("RIBS", rib_every), ("UPDATES", updates_every)):
                times = _schedule(midnight + timedelta(minutes=c.offset_minutes), every, midnight)
                # the truncated file: the middle UPDATES file of the last collector's first day
                cut = truncated and kind == "UPDATES" and c == tree.collectors[-1] and n == 0
                for i, when in enumerate(times):
                    tree.add_file(c.name, kind, when, truncate=cut and i == len(times) // 2)
    if route_views2_alias and "route-views2" in collectors:
        alias = root / "route-views2" / "bgpdata"
        alias.parent.mkdir(parents=True, exist_ok=True)
        if not alias.exists():
            alias.symlink_to(Path("..") / "bgpdata", target_is_directory=True)
    return tree


def _schedule(first: datetime, every: timedelta, midnight: datetime) -> list[datetime]:
    """``first``, ``first + every``, ... up to the end of ``midnight``'s day."""
    out = []
    when = first
    while when < midnight + timedelta(days=1):
        out.append(when)
        when += every
    return out


# -- the server process ----------------------------------------------------------------------


@dataclass
class ArchiveServer:
    """A running server process: its URL, the tree it serves, and the requests it answered."""

    url: str
    process: subprocess.Popen[bytes]
    tree: ArchiveTree | None = None

    def requests(self) -> dict[str, int]:
        """How many requests each path got (from the server process itself)."""
        import urllib.request

        with urllib.request.urlopen(self.url.rstrip("/") + REQUESTS_PATH, timeout=10) as resp:
            counts: dict[str, int] = json.loads(resp.read())
        return counts


@contextlib.contextmanager
def serve_archive(
    archive: ArchiveTree | Path,
    *,
    fail_first: int = 0,
    fail_always: bool = False,
    start_timeout: float = 30.0,
) -> Iterator[ArchiveServer]:
    """Run the server over ``archive`` on a free loopback port for the ``with`` block.

    The server reads the disk on every request: ``tree.add_file(...)`` inside the block is
    seen by the next listing.
    """
    from free_ports import free_ports

    tree = archive if isinstance(archive, ArchiveTree) else None
    root = archive.root if isinstance(archive, ArchiveTree) else archive
    port = free_ports(1)[0]
    cmd = [sys.executable, str(Path(__file__).resolve()), "--root", str(root), "--port", str(port)]
    if fail_first:
        cmd += ["--fail-first", str(fail_first)]
    if fail_always:
        cmd.append("--fail-always")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"archive server exited with {proc.returncode}: {err}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"archive server did not listen on port {port} in time")
            time.sleep(0.05)
        yield ArchiveServer(url=f"http://127.0.0.1:{port}/", process=proc, tree=tree)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


if __name__ == "__main__":
    main()
