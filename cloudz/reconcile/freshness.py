"""Is every collector sending? Coverage rows and silence flags from one bucket scan.

RouteViews' collectors dump a RIB every 2 hours and rotate UPDATES every 15 minutes, counted
from when the daemon started rather than from the clock (include/collectors.yaml, [ARC]). A
day therefore promises 12 RIBs and 96 UPDATES files, and today only the slots that are over.
A collector is *silent* for a kind when its newest file of that kind is older than two
intervals plus the grace a file needs to reach the archive (a late file or one lost dump is
not an alarm; a stopped collector is, within the day). A collector that is in the bucket and
not in the list is *unknown*: its files are archived and loaded like any other, and flagged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cloudz.reconcile.bucket_scan import RawObject
from cloudz.sources import Collector
from cloudz.warehouse.coverage_table import CoverageRow

KINDS = ("RIBS", "UPDATES")
#: how often a collector writes each kind of file
CADENCE = {"RIBS": dt.timedelta(hours=2), "UPDATES": dt.timedelta(minutes=15)}
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Freshness:
    """Per (collector, kind): the newest file seen, and the flags."""

    collector: str
    kind: str
    latest: dt.datetime | None
    known: bool
    silent: bool

    def age_seconds(self, now: dt.datetime) -> float | None:
        return (now - self.latest).total_seconds() if self.latest else None


def silent_after(kind: str, grace: dt.timedelta) -> dt.timedelta:
    """How long a collector may go without a file of ``kind`` before it is flagged."""
    return 2 * CADENCE[kind] + grace


def expected(
    collector: Collector | None, kind: str, day: dt.date, now: dt.datetime, grace: dt.timedelta
) -> int:
    """Files of ``kind`` the cadence promises on ``day`` (only slots ended ``grace`` ago)."""
    if collector is None or not collector.active_between(day, day + dt.timedelta(days=1)):
        return 0
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    over = min(DAY, max(dt.timedelta(0), now - grace - start))
    return int(over / CADENCE[kind])


def check(
    raw: Iterable[RawObject],
    expected_collectors: Sequence[Collector],
    known: Iterable[str],
    days: Sequence[dt.date],
    now: dt.datetime,
    grace: dt.timedelta,
    *,
    judge_silence: bool = True,
    seen_before: Mapping[tuple[str, str], dt.datetime] | None = None,
) -> tuple[list[CoverageRow], list[Freshness]]:
    """The coverage rows of ``days`` and each collector's freshness, as of ``now``.

    ``expected_collectors`` are the active ones this deployment should hear from (the list,
    narrowed by ``CLOUDZ_ARCHIVE_COLLECTORS``); ``known`` is every name in the list. Without
    ``judge_silence`` (a window of past days: its newest file is not the collector's) no one
    is flagged silent. ``seen_before``: the newest file earlier checks saw, per (collector,
    kind), so a collector silent for longer than the window still has an age.
    """
    by_name = {c.name: c for c in expected_collectors}
    known = set(known)
    archived: dict[tuple[dt.date, str, str], int] = {}
    latest: dict[tuple[str, str], dt.datetime] = {}
    for obj in raw:
        if obj.dump_time is None:
            continue
        key = (obj.dump_time.date(), obj.collector, obj.kind)
        archived[key] = archived.get(key, 0) + 1
        held = latest.get((obj.collector, obj.kind))
        if held is None or obj.dump_time > held:
            latest[(obj.collector, obj.kind)] = obj.dump_time
    collectors = sorted(set(by_name) | {c for c, _ in latest})
    for (name, kind), when in (seen_before or {}).items():
        held = latest.get((name, kind))
        if name in collectors and (held is None or when > held):
            latest[(name, kind)] = when
    checked_at = now.isoformat()
    rows: list[CoverageRow] = []
    fresh: list[Freshness] = []
    for name in collectors:
        for kind in KINDS:
            newest = latest.get((name, kind))
            is_known = name in known
            active = name in by_name and _active_now(by_name[name], now)
            silent = (
                judge_silence
                and active
                and (newest is None or now - newest > silent_after(kind, grace))
            )
            if name in by_name or newest is not None:
                fresh.append(Freshness(name, kind, newest, is_known, silent))
            for day in days:
                rows.append(
                    CoverageRow(
                        day=day.isoformat(),
                        collector=name,
                        kind=kind,
                        expected=expected(by_name.get(name), kind, day, now, grace),
                        archived=archived.get((day, name, kind), 0),
                        latest_dump=newest.isoformat() if newest else None,
                        known=is_known,
                        silent=silent,
                        checked_at=checked_at,
                    )
                )
    return rows, fresh


def _active_now(collector: Collector, now: dt.datetime) -> bool:
    today = now.date()
    return collector.active_between(today, today + dt.timedelta(days=1))
