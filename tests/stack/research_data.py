"""The routing history docs/research.md's queries are tested on, with their answers planted.

2024-03-10, two collectors. RIBs at 12:00 and 16:00 on each; one update file each between:

- ``203.0.113.0/24``, originated by AS 64500 (via 174 and 2914), is hijacked by AS 64666 at
  14:07:12 (route-views2, peer AS 3356) and 14:07:30 (route-views.linx, peer AS 6939), which
  also announces the more-specific ``203.0.113.128/25`` at 14:07:40 (peer AS 1299); the
  routes are back to 64500 at 14:52:00 / 14:52:30, the /25 withdrawn at 14:53:00;
- ``198.18.0.0/24`` flaps at peer AS 3356: withdrawn and announced again 10 times from 14:00,
  withdrawn for good at 15:30 (so it is missing from the 16:00 RIB);
- ``192.0.2.0/24`` has two origins (MOAS) in every RIB: 64510 and 64511;
- ``203.0.113.66/32`` is announced at 15:00 with BLACKHOLE (65535:666), withdrawn at 15:20;
- ``100.64.0.0/10`` ends in an AS_SET {64531,64532}; ``2001:db8:100::/48`` is IPv6 of 64500.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass

from cloudz.mrtgen.chosen import Event, Peer, Route4, rib_records, update_records
from cloudz.mrtgen.records import GeneratedRecord


def at(hhmmss: str) -> int:
    """Seconds since the epoch of ``HH:MM:SS`` on 2024-03-10 (UTC)."""
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return calendar.timegm((2024, 3, 10, h, m, s))


RV2, LINX = "route-views2", "route-views.linx"
A = Peer("198.51.100.1", 3356)
B = Peer("198.51.100.2", 1299)
C = Peer("198.51.100.3", 6939)
PEERS = {RV2: [A, B], LINX: [C]}

VICTIM = "203.0.113.0/24"
FLAPPING = "198.18.0.0/24"
MOAS = "192.0.2.0/24"
BLACKHOLED = "203.0.113.66/32"
SUBPREFIX = "203.0.113.128/25"
AGGREGATE = "100.64.0.0/10"
V6 = "2001:db8:100::/48"

LEGIT = {
    A: Route4(VICTIM, (3356, 174, 64500)),
    B: Route4(VICTIM, (1299, 2914, 64500)),
    C: Route4(VICTIM, (6939, 174, 64500)),
}


def _rib_entries(hour: int) -> list[tuple[Peer, Route4]]:
    entries = [(p, r) for p, r in LEGIT.items()]
    entries += [
        (A, Route4(MOAS, (3356, 64510), ((3356, 100),))),
        (B, Route4(MOAS, (1299, 64511))),
        (C, Route4(MOAS, (6939, 64510))),
        (A, Route4(AGGREGATE, (3356, 64530), path_set=(64531, 64532))),
        (A, Route4(V6, (3356, 174, 64500))),
        (C, Route4(V6, (6939, 64500))),
    ]
    if hour == 12:
        entries.append((A, Route4(FLAPPING, (3356, 64520))))
    return entries


def _updates(collector: str) -> list[Event]:
    if collector == LINX:
        return [
            Event(at("14:07:30"), C, Route4(VICTIM, (6939, 64666))),
            Event(at("14:52:30"), C, LEGIT[C]),
        ]
    flap = Route4(FLAPPING, (3356, 64520))
    events = []
    for i in range(10):
        events.append(Event(at("14:00:00") + 90 * i, A, flap, withdraw=True))
        events.append(Event(at("14:00:45") + 90 * i, A, flap))
    events += [
        Event(at("14:07:12"), A, Route4(VICTIM, (3356, 64666))),
        Event(at("14:07:40"), B, Route4(SUBPREFIX, (1299, 64666))),
        Event(at("14:52:00"), A, LEGIT[A]),
        Event(at("14:53:00"), B, Route4(SUBPREFIX, ()), withdraw=True),
        Event(at("15:00:00"), A, Route4(BLACKHOLED, (3356, 64500), ((64500, 666), (65535, 666)))),
        Event(at("15:20:00"), A, Route4(BLACKHOLED, ()), withdraw=True),
        Event(at("15:30:00"), A, flap, withdraw=True),
    ]
    return sorted(events, key=lambda e: e.timestamp)


@dataclass(frozen=True)
class File:
    archive_path: str
    collector: str
    dump_time: int
    records: list[GeneratedRecord]


def files() -> Iterator[File]:
    """Each collector's RIBs at 12:00 and 16:00 and its update file of 14:00."""
    for collector, peers in PEERS.items():
        for hour in (12, 16):
            ts = at(f"{hour}:00:00")
            yield File(
                f"{collector}/bgpdata/2024.03/RIBS/rib.20240310.{hour}00.bz2",
                collector,
                ts,
                list(rib_records(ts, peers, [(p, r) for p, r in _rib_entries(hour) if p in peers])),
            )
        yield File(
            f"{collector}/bgpdata/2024.03/UPDATES/updates.20240310.1400.bz2",
            collector,
            at("14:00:00"),
            list(update_records(_updates(collector))),
        )
