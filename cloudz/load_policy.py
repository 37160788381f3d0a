"""Which archived files are converted and loaded into the routes table: the load policy.

Every file is archived and verified whatever the policy says; the policy only decides whether
its rows go into BigQuery now. RouteViews' own upload client carried a "convert to SQL" flag per
upload: RIB rows are ~93 % of all rows, so a deployment may load every update file but a RIB
only every few hours, and load the rest later with the backfill (``cloudz-backfill
--ignore-load-policy``). The default loads every file.

The policy is one text, the same wherever it is set (the Airflow Variable
``cloudz_load_policy``, else the setting ``CLOUDZ_LOAD_POLICY``): rules separated by ``;`` or
new lines, each ``<collector or *>/<RIBS, UPDATES or *>: <all | none | every <N>h>``::

    */RIBS: every 8h; route-views.sg/RIBS: all

The most specific rule wins (collector and kind, then collector, then kind, then ``*/*``); a file
no rule names is loaded. ``every <N>h`` loads the files named in the first interval of the kind
(a RIB every 2 hours, an update file every 15 minutes: include/collectors.yaml's archive notes)
of each N-hour block of the UTC day: with ``every 8h``, RIBs named 00:00-01:59, 08:00-09:59 and
16:00-17:59. Collectors dump RIBs every 2 hours from when their daemon started, not on the clock,
so each such window holds one dump of a collector that keeps its cadence.

Pure: no I/O, no Airflow. The per-file DAG, the backfill and the reconcile ask
:meth:`LoadPolicy.decide` and write the catalog state :data:`STATE_NOT_LOADED_BY_POLICY`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile

#: the Airflow Variable that overrides the setting (an operator changes it without a deploy)
VARIABLE: Final = "cloudz_load_policy"
#: the files catalog's state of a file archived and verified but not loaded by the policy
STATE_NOT_LOADED_BY_POLICY: Final = "not_loaded_by_policy"
#: how often a collector writes each kind of file ([ARC] in include/collectors.yaml)
INTERVAL: Final = {"RIBS": timedelta(hours=2), "UPDATES": timedelta(minutes=15)}
KINDS: Final = ("RIBS", "UPDATES")

_RULE = re.compile(
    r"(?P<collector>\*|[A-Za-z0-9][A-Za-z0-9._-]*)/(?P<kind>\*|RIBS|UPDATES)\s*:\s*"
    r"(?P<action>all|none|every\s+(?P<hours>[0-9]{1,2})\s*h)",
    re.ASCII,
)


class LoadPolicyError(ValueError):
    """A policy text that does not parse; the message names the rule."""


@dataclass(frozen=True)
class Rule:
    collector: str  # a collector or "*"
    kind: str  # RIBS, UPDATES or "*"
    #: 0: none, 1: every file (all), N: the first interval of each N-hour block
    every_hours: int | None

    @property
    def specificity(self) -> int:
        return 2 * (self.collector != "*") + (self.kind != "*")

    def __str__(self) -> str:
        if self.every_hours is None:
            action = "all"
        elif self.every_hours == 0:
            action = "none"
        else:
            action = f"every {self.every_hours}h"
        return f"{self.collector}/{self.kind}: {action}"

    def share(self, kind: str) -> float:
        """The fraction of this kind's files the rule loads."""
        if self.every_hours is None:
            return 1.0
        if self.every_hours == 0:
            return 0.0
        return INTERVAL[kind] / timedelta(hours=self.every_hours)


@dataclass(frozen=True)
class Decision:
    load: bool
    #: the rule that decided, or "" for the default (load every file)
    rule: str = ""

    @property
    def reason(self) -> str:
        """What the catalog row and the collector's reply say of a file not loaded."""
        return f"load policy: {self.rule}" if self.rule else "load policy: load every file"

    @property
    def reply(self) -> str:
        return f"archived, not loaded ({self.reason})"


@dataclass(frozen=True)
class LoadPolicy:
    rules: tuple[Rule, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LoadPolicy:
        """The policy a text says; ``""`` (or only comments) loads every file."""
        rules: dict[tuple[str, str], Rule] = {}
        for raw in re.split(r"[;\n]", text):
            part = raw.split("#", 1)[0].strip()
            if not part:
                continue
            m = _RULE.fullmatch(part)
            if m is None:
                raise LoadPolicyError(
                    f"load policy rule {part!r}: expected '<collector or *>/<RIBS, UPDATES or *>: "
                    "<all | none | every <N>h>'"
                )
            hours = m["hours"]
            every = None if m["action"] == "all" else 0 if m["action"] == "none" else int(hours)
            rule = Rule(m["collector"], m["kind"], every)
            if every:
                for kind in (rule.kind,) if rule.kind != "*" else KINDS:
                    step = timedelta(hours=every)
                    if 24 % every or step < INTERVAL[kind]:
                        raise LoadPolicyError(
                            f"load policy rule {part!r}: every {every}h must divide the day "
                            f"and be at least the {kind} interval ({INTERVAL[kind]})"
                        )
            key = (rule.collector, rule.kind)
            if key in rules:
                raise LoadPolicyError(f"load policy names {key[0]}/{key[1]} twice")
            rules[key] = rule
        return cls(tuple(rules.values()))

    @property
    def loads_everything(self) -> bool:
        return all(r.every_hours is None for r in self.rules)

    def rule_for(self, collector: str, kind: str) -> Rule | None:
        """The most specific rule naming ``collector``'s ``kind``, if any."""
        matching = [
            r for r in self.rules if r.collector in ("*", collector) and r.kind in ("*", kind)
        ]
        return max(matching, key=lambda r: r.specificity, default=None)

    def decide(self, path: paths.ArchivePath) -> Decision:
        """Whether the file at ``path`` is loaded, and the rule that said so."""
        rule = self.rule_for(path.collector, path.kind)
        if rule is None or rule.every_hours is None:
            return Decision(True, str(rule) if rule else "")
        if rule.every_hours == 0:
            return Decision(False, str(rule))
        named = path.dump_time
        since_midnight = named - named.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = since_midnight % timedelta(hours=rule.every_hours)
        return Decision(offset < INTERVAL[path.kind], str(rule))

    def loads(self, file: ArchivedFile) -> Decision:
        """:meth:`decide` for an archived file version."""
        return self.decide(file.path)

    def share(self, collector: str, kind: str) -> float:
        """The fraction of ``collector``'s files of ``kind`` loaded (the bill's factor)."""
        rule = self.rule_for(collector, kind)
        return 1.0 if rule is None else rule.share(kind)

    def __str__(self) -> str:
        return "; ".join(map(str, self.rules)) or "load every file"


#: the default: every file loaded
LOAD_EVERY_FILE: Final = LoadPolicy()


def of(text: str | None) -> LoadPolicy:
    """The policy of a setting's or Variable's text (``None`` or empty: load every file)."""
    return LoadPolicy.parse(text or "")
