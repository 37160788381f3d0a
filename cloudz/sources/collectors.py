"""The RouteViews collectors as data: ``include/collectors.yaml``, loaded and checked.

Each collector says where the archive keeps it (``archive_dir``, relative to the archive
root: ``route-views.sg/bgpdata``, or ``bgpdata`` for route-views2, the oldest collector, which
lives at the root), its first and last dates, and notes. The file is hand-edited, so the
loader checks every entry and names the line and field of a bad one: a typo must not turn
into a collector that silently lists nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import yaml

from cloudz.archive import paths
from cloudz.settings import PROJECT_ROOT

DEFAULT_PATH: Final = PROJECT_ROOT / "include" / "collectors.yaml"
_FIELDS: Final = frozenset(
    {"name", "archive_dir", "also_at", "first_date", "first_date_exact", "last_date", "notes"}
)
_REQUIRED: Final = ("name", "archive_dir", "first_date")
_ARCHIVE_FIELDS: Final = frozenset({"url", "pacific_names_before", "notes"})


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type stubs here
    """PyYAML's safe loader, leaving dates as text: a bad date (``2013-13-01``) then gets this
    module's message with its line, not a bare ``ValueError`` from inside PyYAML."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _is_segment(text: str, *, collector: bool = False) -> bool:
    """Whether ``text`` may be one segment of an archive path (with ``collector``: the
    collector's segment, which may not be a word of the layout such as ``bgpdata``): asked of
    ``cloudz.archive.paths`` itself, so the layout's grammar lives in one place."""
    try:
        paths.parse(f"{text}/bgpdata/2001.01/RIBS/rib.20010101.0000.bz2")
    except paths.ArchivePathError as e:
        if collector or e.rule != "reserved-collector":
            return False
    return "/" not in text


class CollectorConfigError(ValueError):
    """A bad collectors file; the message names the file, line and field."""


@dataclass(frozen=True)
class Collector:
    """One collector: where the archive keeps it, and when it has data.

    ``first_date_exact`` is false where the first date is an estimate (the source reader's
    ``list_months`` tells the real first month); ``last_date`` is ``None`` while it is active.
    """

    name: str
    archive_dir: str
    first_date: date
    last_date: date | None = None
    first_date_exact: bool = True
    also_at: tuple[str, ...] = ()
    notes: str = ""
    #: names before this date are in Pacific time (the archive's, copied to each collector)
    pacific_names_before: date | None = None
    line: int = 0

    @property
    def archive_prefix(self) -> str:
        """The bucket prefix of its files: always ``<name>/bgpdata``."""
        return f"{self.name}/bgpdata"

    def active_between(self, start: date, end: date) -> bool:
        """Whether it may have files named in ``[start, end)``, by its dates.

        An estimated first date (``first_date_exact: false``) rules nothing out: skipping a
        collector on a guess would lose its first months, and listing one too early costs
        only its months page.
        """
        if self.first_date_exact and self.first_date >= end:
            return False
        return self.last_date is None or self.last_date >= start


@dataclass(frozen=True)
class Collectors:
    """Every collector of the file, by name, and the archive's own facts."""

    archive_url: str
    pacific_names_before: date | None
    by_name: Mapping[str, Collector]
    path: Path
    notes: str = ""

    def __iter__(self) -> Iterator[Collector]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def __getitem__(self, name: str) -> Collector:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"no collector {name!r} in {self.path}") from None

    def active_between(self, start: date, end: date) -> list[Collector]:
        return [c for c in self if c.active_between(start, end)]


def load_collectors(path: str | Path = DEFAULT_PATH) -> Collectors:
    """Read and check a collectors file (``include/collectors.yaml`` by default)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CollectorConfigError(f"{path}: cannot read: {e}") from e
    return parse_collectors(text, path)


def parse_collectors(text: str, path: str | Path = "<collectors>") -> Collectors:
    """Check ``text`` (the YAML of a collectors file) and build the collectors."""
    path = Path(path)
    try:
        # the node tree carries line numbers for the messages; the safe loader builds values
        root: Any = yaml.compose(text, Loader=_Loader)
        data: object = yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as e:
        raise CollectorConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict) or root is None:
        raise CollectorConfigError(f"{path}: expected a mapping with 'archive' and 'collectors'")
    where = _Where(path, root)
    unknown = set(data) - {"archive", "collectors"}
    if unknown:
        raise CollectorConfigError(f"{where.at(())}: unknown top-level key(s) {sorted(unknown)}")

    archive = data.get("archive")
    if not isinstance(archive, dict):
        raise CollectorConfigError(f"{where.at(())}: 'archive' must be a mapping (url, ...)")
    bad = set(archive) - _ARCHIVE_FIELDS
    if bad:
        raise CollectorConfigError(f"{where.at(('archive',))}: unknown field(s) {sorted(bad)}")
    url = archive.get("url")
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/]+/(?:[^\s]*/)?", url):
        raise CollectorConfigError(
            f"{where.at(('archive', 'url'))}: archive.url must be an http(s) URL ending in '/'"
        )
    pacific = _optional_date(
        archive.get("pacific_names_before"), where, ("archive", "pacific_names_before")
    )

    entries = data.get("collectors")
    if not isinstance(entries, list) or not entries:
        raise CollectorConfigError(
            f"{where.at(('collectors',))}: 'collectors' must be a non-empty list"
        )
    by_name: dict[str, Collector] = {}
    dirs: dict[str, str] = {}
    for i, entry in enumerate(entries):
        c = _collector(entry, i, where, pacific)
        if c.name in by_name:
            raise CollectorConfigError(
                f"{where.at(('collectors', i, 'name'))}: collector {c.name!r} is listed twice "
                f"(first at line {by_name[c.name].line})"
            )
        for d in (c.archive_dir, *c.also_at):
            if d in dirs:
                raise CollectorConfigError(
                    f"{where.at(('collectors', i, 'archive_dir'))}: {d!r} is also "
                    f"{dirs[d]!r}'s directory"
                )
            dirs[d] = c.name
        by_name[c.name] = c
    archive_notes = archive.get("notes") or ""
    if not isinstance(archive_notes, str):
        raise CollectorConfigError(f"{where.at(('archive', 'notes'))}: notes must be text")
    return Collectors(
        archive_url=url,
        pacific_names_before=pacific,
        by_name=by_name,
        path=path,
        notes=" ".join(archive_notes.split()),
    )


class _Where:
    """Line numbers of the YAML nodes, for messages (``collectors.yaml:42: ...``)."""

    def __init__(self, path: Path, root: Any) -> None:
        self.path = path
        self.root = root

    def at(self, keys: tuple[str | int, ...]) -> str:
        node = self.root
        for key in keys:
            child = None
            if isinstance(key, int) and isinstance(node, yaml.SequenceNode):
                child = node.value[key] if key < len(node.value) else None
            elif isinstance(node, yaml.MappingNode):
                child = next((v for k, v in node.value if k.value == key), None)
            if child is None:
                break
            node = child
        return f"{self.path}:{node.start_mark.line + 1}"


def _collector(entry: object, i: int, where: _Where, pacific: date | None) -> Collector:
    here = ("collectors", i)
    if not isinstance(entry, dict):
        raise CollectorConfigError(f"{where.at(here)}: collector #{i + 1} must be a mapping")
    label = f"collector #{i + 1}" + (
        f" {entry['name']!r}" if isinstance(entry.get("name"), str) else ""
    )
    unknown = sorted(map(str, set(entry) - _FIELDS))
    if unknown:
        raise CollectorConfigError(
            f"{where.at((*here, unknown[0]))}: {label}: unknown field(s) {unknown} "
            f"(known: {sorted(_FIELDS)})"
        )
    for key in _REQUIRED:
        if entry.get(key) is None:
            raise CollectorConfigError(f"{where.at(here)}: {label}: '{key}' is required")

    name = entry["name"]
    if not isinstance(name, str) or not _is_segment(name, collector=True):
        raise CollectorConfigError(
            f"{where.at((*here, 'name'))}: {label}: name {name!r} is not an archive path "
            "segment ([A-Za-z0-9][A-Za-z0-9._-]*)"
        )
    archive_dir = _archive_dir(entry["archive_dir"], where, (*here, "archive_dir"), label)
    also = entry.get("also_at") or []
    if not isinstance(also, list):
        raise CollectorConfigError(
            f"{where.at((*here, 'also_at'))}: {label}: also_at must be a list"
        )
    also_at = tuple(_archive_dir(d, where, (*here, "also_at"), label) for d in also)

    first = _optional_date(entry["first_date"], where, (*here, "first_date"), label)
    assert first is not None
    last = _optional_date(entry.get("last_date"), where, (*here, "last_date"), label)
    if last is not None and last < first:
        raise CollectorConfigError(
            f"{where.at((*here, 'last_date'))}: {label}: "
            f"last_date {last} is before first_date {first}"
        )
    exact = entry.get("first_date_exact", True)
    if not isinstance(exact, bool):
        raise CollectorConfigError(
            f"{where.at((*here, 'first_date_exact'))}: {label}: "
            "first_date_exact must be true or false"
        )
    notes = entry.get("notes") or ""
    if not isinstance(notes, str):
        raise CollectorConfigError(f"{where.at((*here, 'notes'))}: {label}: notes must be text")
    return Collector(
        name=name,
        archive_dir=archive_dir,
        first_date=first,
        last_date=last,
        first_date_exact=exact,
        also_at=also_at,
        notes=" ".join(notes.split()),
        pacific_names_before=pacific,
        line=int(where.at(here).rsplit(":", 1)[1]),
    )


def _archive_dir(value: object, where: _Where, keys: tuple[str | int, ...], label: str) -> str:
    """``<segment>/.../bgpdata``, relative: where the archive keeps a collector's months."""
    if not isinstance(value, str):
        raise CollectorConfigError(f"{where.at(keys)}: {label}: {keys[-1]} must be text")
    parts = value.split("/")
    if not all(_is_segment(p) for p in parts) or parts[-1] != "bgpdata":
        raise CollectorConfigError(
            f"{where.at(keys)}: {label}: {keys[-1]} {value!r} must be a relative path of "
            "archive segments ending in 'bgpdata' (e.g. 'route-views.sg/bgpdata' or 'bgpdata')"
        )
    return value


def _optional_date(
    value: object, where: _Where, keys: tuple[str | int, ...], label: str = ""
) -> date | None:
    """A date written ``YYYY-MM-DD``, or ``None``; anything else is refused with its line."""
    prefix = f"{label}: " if label else ""
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError as e:
            raise CollectorConfigError(
                f"{where.at(keys)}: {prefix}{keys[-1]} {value!r} is not a date: {e}"
            ) from e
    raise CollectorConfigError(
        f"{where.at(keys)}: {prefix}{keys[-1]} {value!r} is not a date (YYYY-MM-DD)"
    )
