"""Apache "Index of" pages, as archive.routeviews.org serves them (mod_autoindex, HTMLTable).

A page is a ``<table>`` whose header row names the columns ``Name``, ``Last modified``,
``Size`` (and ``Description``); each row below is one entry. Two things about the real pages
shape this parser:

- the Name column's *text* is cut to 23 characters (``updates.20221001.000..&gt;``), so the
  name is taken from the link (``href``), never from the text;
- sizes are rounded to two or three digits with a K/M/G suffix (multiples of 1024) from 973
  bytes up, so only a size without a suffix is exact.

A page that is not such a listing (an error page, a portal, a changed server) raises
``SourceError`` naming the URL: an empty listing is only ever a table with no rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Final
from urllib.parse import unquote

from cloudz.sources.files import SourceError

_SIZE: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGTPE]?)", re.ASCII)
_UNITS: Final = "KMGTPE"
_COLUMNS: Final = ("Name", "Last modified", "Size")
_NAME_SEGMENT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*", re.ASCII)


@dataclass(frozen=True)
class IndexEntry:
    """One row of an index page: a file or a subdirectory."""

    name: str  # from the link, without a trailing '/'
    is_dir: bool
    size: int | None  # bytes (rounded unless size_exact); None for directories
    size_exact: bool
    modified: datetime | None  # as shown (the server's clock, minutes)


@dataclass
class _Cell:
    header: bool
    text: str = ""
    href: str | None = None


class _TableReader(HTMLParser):
    """Collects the rows of every table, each cell's text and first link, and the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.rows: list[list[_Cell]] = []
        self.tables = 0
        self._in_title = False
        self._row: list[_Cell] | None = None
        self._cell: _Cell | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "table":
            self.tables += 1
        elif tag == "tr":
            self._close_row()
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = _Cell(header=tag == "th")
            self._row.append(self._cell)
        elif tag == "a" and self._cell is not None and self._cell.href is None:
            self._cell.href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in ("td", "th"):
            self._cell = None
        elif tag in ("tr", "table"):
            self._close_row()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._cell is not None:
            self._cell.text += data

    def _close_row(self) -> None:
        if self._row:
            self.rows.append(self._row)
        self._row = None
        self._cell = None

    def close(self) -> None:
        super().close()
        self._close_row()


def parse_size(text: str) -> tuple[int, bool] | None:
    """``"14"`` gives ``(14, True)``, ``"6.4M"`` ``(6710886, False)``; ``"-"`` gives ``None``."""
    text = text.strip()
    if text == "-":
        return None
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"not a size: {text!r}")
    if not m[2]:
        if "." in m[1]:
            raise ValueError(f"not a size: {text!r}")
        return int(m[1]), True
    return round(float(m[1]) * 1024 ** (_UNITS.index(m[2]) + 1)), False


def parse_index_page(html: str, url: str) -> list[IndexEntry]:
    """The entries of an Apache index page; ``SourceError`` naming ``url`` if it is not one."""
    reader = _TableReader()
    try:
        reader.feed(html)
        reader.close()
    except Exception as e:  # HTMLParser raises little, but a page is hostile input
        raise SourceError(f"{url}: cannot parse the page as HTML: {e}", url=url) from e
    if not reader.title.strip().startswith("Index of"):
        raise SourceError(
            f"{url}: not a directory listing (title {reader.title.strip()[:80]!r}, expected "
            "Apache's 'Index of ...')",
            url=url,
        )
    columns: dict[str, int] | None = None
    for row in reader.rows:
        if all(c.header for c in row):
            texts = [c.text.strip() for c in row]
            if all(col in texts for col in _COLUMNS):
                columns = {col: texts.index(col) for col in _COLUMNS}
                break
    if columns is None:
        raise SourceError(
            f"{url}: the index page has no table with the columns {', '.join(_COLUMNS)} "
            f"({reader.tables} table(s) found): the server's listing format changed?",
            url=url,
        )
    width = max(columns.values()) + 1
    entries: list[IndexEntry] = []
    for row in reader.rows:
        if all(c.header for c in row):
            continue
        if len(row) < width:
            raise SourceError(f"{url}: a row has {len(row)} cells, expected {width}", url=url)
        entry = _entry(row, columns, url)
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(row: list[_Cell], columns: dict[str, int], url: str) -> IndexEntry | None:
    name_cell = row[columns["Name"]]
    href = name_cell.href
    if href is None:
        raise SourceError(f"{url}: a row has no link in its Name cell: {name_cell.text!r}", url=url)
    if name_cell.text.strip() == "Parent Directory":
        return None
    is_dir = href.endswith("/")
    name = unquote(href.removesuffix("/"))
    if not _NAME_SEGMENT.fullmatch(name):
        raise SourceError(f"{url}: entry {href!r} is not a plain name in this directory", url=url)
    try:
        size = parse_size(row[columns["Size"]].text)
    except ValueError as e:
        raise SourceError(f"{url}: entry {name!r}: {e}", url=url) from e
    if size is None and not is_dir:
        raise SourceError(f"{url}: file {name!r} is listed without a size", url=url)
    shown = row[columns["Last modified"]].text.strip()
    try:
        modified = datetime.strptime(shown, "%Y-%m-%d %H:%M") if shown else None
    except ValueError as e:
        raise SourceError(f"{url}: entry {name!r}: last modified {shown!r}: {e}", url=url) from e
    return IndexEntry(
        name=name,
        is_dir=is_dir,
        size=None if size is None else size[0],
        size_exact=size is not None and size[1],
        modified=modified,
    )
