"""Run Debian's ``bgpdump -m`` and parse its lines, the reference the converter is checked against.

Also renders a converter row the way ``bgpdump -m`` would print it (:func:`row_as_bgpdump`),
so the differential test compares like with like, field by field.
"""

from __future__ import annotations

import inspect
import ipaddress
import shutil
import subprocess
from pathlib import Path
from typing import Any

BGPDUMP = shutil.which("bgpdump")
REFERENCE_ENGINE: dict[str, Any] = {}
"""``convert_file`` keyword selecting the mrtparse reference engine these tests pin down (the
compiled fast engine, when present, is checked against the reference by its own tests)."""


def _reference_engine() -> dict[str, Any]:
    from cloudz.convert import convert_file

    return {"engine": "python"} if "engine" in inspect.signature(convert_file).parameters else {}


REFERENCE_ENGINE.update(_reference_engine())
SKIP_REASON = "bgpdump not on PATH (Debian: apt-get install bgpdump): differential tests need it"

ROUTE_FIELDS = (
    "as_path",
    "origin",
    "next_hop",
    "local_pref",
    "med",
    "communities",
    "atomic_aggregate",
    "aggregator",
)
WELL_KNOWN = {"65535:65281": "no-export", "65535:65282": "no-advertise", "65535:65283": "local-AS"}


def run_bgpdump(path: Path) -> list[str]:
    """``bgpdump -m -q PATH`` output lines (stderr ignored)."""
    assert BGPDUMP is not None, SKIP_REASON
    out = subprocess.run(
        [BGPDUMP, "-m", "-q", str(path)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return out.splitlines()


def parse_line(line: str) -> dict[str, Any]:
    """One ``bgpdump -m`` line → dict keyed like the row schema (values stay text)."""
    f = line.split("|")
    d: dict[str, Any] = {
        "mrt_type": f[0],
        "time": f[1],
        "entry_type": f[2],
        "peer_ip": f[3],
        "peer_asn": f[4],
    }
    if d["entry_type"] == "STATE":
        d.update(old_state=f[5], new_state=f[6])
        return d
    rest = f[5:]
    d["prefix"] = rest.pop(0)
    d["path_id"] = rest.pop(0) if d["mrt_type"].endswith("_AP") else ""
    if d["entry_type"] == "W":
        assert rest == [], line
        return d
    assert len(rest) == len(ROUTE_FIELDS) + 1 and rest[-1] == "", line  # trailing '|'
    d.update(zip(ROUTE_FIELDS, rest, strict=False))
    return d


def bgpdump_rows(path: Path) -> list[dict[str, Any]]:
    return [parse_line(line) for line in run_bgpdump(path)]


def _time(row: dict[str, Any]) -> str:
    micros = int(row["timestamp"].timestamp() * 1_000_000 + 0.5)
    seconds, us = divmod(micros, 1_000_000)
    return f"{seconds}.{us:06d}" if "_ET" in row["mrt_type"] else str(seconds)


def row_as_bgpdump(row: dict[str, Any]) -> dict[str, Any]:
    """What ``bgpdump -m`` prints for this row, using bgpdump's defaults for absent values:
    empty AS path, INCOMPLETE origin, next hop 255.255.255.255, 0 for LOCAL_PREF and MED,
    names for the three well-known communities."""
    d: dict[str, Any] = {
        "mrt_type": row["mrt_type"],
        "time": _time(row),
        "entry_type": row["entry_type"],
        "peer_ip": row["peer_ip"],
        "peer_asn": str(row["peer_asn"]),
    }
    if row["entry_type"] == "STATE":
        d.update(old_state=str(row["old_state"]), new_state=str(row["new_state"]))
        return d
    d["prefix"] = row["prefix"]
    d["path_id"] = "" if not row["mrt_type"].endswith("_AP") else str(row["path_id"])
    if row["entry_type"] == "W":
        return d
    d.update(
        as_path=row["as_path"] or "",
        origin=row["origin"] or "INCOMPLETE",
        next_hop=row["next_hop"] or "255.255.255.255",
        local_pref=str(row["local_pref"] or 0),
        med=str(row["med"] or 0),
        communities=" ".join(WELL_KNOWN.get(c, c) for c in row["communities"]),
        atomic_aggregate="AG" if row["atomic_aggregate"] else "NAG",
        aggregator=row["aggregator"] or "",
    )
    return d


def bgpdump_ipv6_text(text: str) -> str:
    """How bgpdump 1.6.2 prints an IPv6 address (or prefix) we print in RFC 5952 form: it also
    shortens a *single* zero group to "::" (RFC 5952 §4.2.2 says not to; glibc's inet_ntop,
    mrtparse and Python do not). Longest run first, the leftmost on a tie."""
    addr, slash, plen = text.partition("/")
    groups = ipaddress.IPv6Address(addr).exploded.split(":")
    groups = [g.lstrip("0") or "0" for g in groups]
    best = best_len = i = 0
    while i < len(groups):
        j = i
        while j < len(groups) and groups[j] == "0":
            j += 1
        if j - i > best_len:
            best, best_len = i, j - i
        i = max(j, i + 1)
    if best_len == 0:
        out = ":".join(groups)
    else:
        out = ":".join(groups[:best]) + "::" + ":".join(groups[best + best_len :])
    return out + slash + plen


def host_bits_as_printed(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether ``theirs`` (a parsed line) prints the prefix of ``ours`` with its host bits.

    A prefix written with host bits set (``11.13.0.0/13``) is stored masked by the converter
    (``11.8.0.0/13``, RFC 4271 §4.3: trailing bits are irrelevant). bgpdump 1.6.2 (Debian 12)
    prints the prefix bytes as written, so its line shows the host bits; newer releases mask
    them and print what we store. Either way the two must be the same network: asserted here.
    """
    printed = ipaddress.ip_interface(theirs["prefix"])
    if printed.ip == printed.network.network_address:
        return False
    assert printed.network == ipaddress.ip_network(ours["prefix"]), (
        f"bgpdump's {theirs['prefix']} is not our {ours['prefix']} with host bits"
    )
    return True
