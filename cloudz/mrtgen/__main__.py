"""``python -m cloudz.mrtgen rib|updates``: write a synthetic MRT file, print its row count.

The last line printed is ``rows=N bgpdump_rows=M``: the rows the converter writes and the
lines ``bgpdump -m`` prints (fewer only by the multicast RIB entries bgpdump 1.6.2 skips).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import click

from cloudz.mrtgen.output import COMPRESSIONS, Compression, WriteResult, write_file
from cloudz.mrtgen.rib import RibSpec, generate_rib
from cloudz.mrtgen.updates import UpdatesSpec, generate_updates

_OUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="file to write; .bz2 / .gz suffix compresses",
)
_COMP = click.option(
    "--compression",
    type=click.Choice(COMPRESSIONS),
    default=None,
    help="override the compression chosen from the suffix",
)
_SEED = click.option("--seed", type=int, default=1, show_default=True)
_TS = click.option(
    "--timestamp", type=int, default=1_700_000_000, show_default=True, help="first MRT timestamp"
)


def _report(path: Path, result: WriteResult, started: float) -> None:
    click.echo(
        f"{path}: {result.records} records, {result.mrt_bytes} MRT bytes, "
        f"{path.stat().st_size} file bytes, {time.monotonic() - started:.1f}s"
    )
    host_bits = f" host_bit_prefixes={result.host_bit_prefixes}" if result.host_bit_prefixes else ""
    click.echo(f"rows={result.rows} bgpdump_rows={result.bgpdump_rows}{host_bits}")


@click.group()
def main() -> None:
    """Deterministic synthetic MRT files (TABLE_DUMP_V2 RIBs, BGP4MP update files)."""


@main.command()
@click.option("--peers", type=int, default=24, show_default=True)
@click.option("--prefixes", type=int, default=1000, show_default=True)
@click.option("--ipv6-share", type=float, default=0.3, show_default=True)
@click.option("--addpath-share", type=float, default=0.1, show_default=True)
@click.option("--multicast-share", type=float, default=0.02, show_default=True)
@click.option("--generic-share", type=float, default=0.02, show_default=True)
@click.option("--peer-presence", type=float, default=0.9, show_default=True)
@click.option(
    "--attributes",
    type=click.Choice(("mixed", "varied")),
    default="mixed",
    show_default=True,
    help="varied: long AS paths with sets, many communities, aggregators (attribute-heavy)",
)
@click.option(
    "--pool", type=int, default=256, show_default=True, help="distinct attribute sets per AFI"
)
@click.option(
    "--locality",
    type=float,
    default=0.0,
    show_default=True,
    help="chance a peer repeats its previous attribute set (0.95: bz2 bytes per row like "
    "a real RouteViews RIB)",
)
@_SEED
@_TS
@_OUT
@_COMP
def rib(
    peers: int,
    prefixes: int,
    ipv6_share: float,
    addpath_share: float,
    multicast_share: float,
    generic_share: float,
    peer_presence: float,
    attributes: Literal["mixed", "varied"],
    pool: int,
    locality: float,
    seed: int,
    timestamp: int,
    output: Path,
    compression: Compression | None,
) -> None:
    """TABLE_DUMP_V2: a PEER_INDEX_TABLE and one RIB record per prefix."""
    spec = RibSpec(
        peers=peers,
        prefixes=prefixes,
        seed=seed,
        timestamp=timestamp,
        ipv6_share=ipv6_share,
        addpath_share=addpath_share,
        multicast_share=multicast_share,
        generic_share=generic_share,
        peer_presence=peer_presence,
        attributes=attributes,
        pool=pool,
        locality=locality,
    )
    started = time.monotonic()
    _report(output, write_file(output, generate_rib(spec), compression), started)


@main.command()
@click.option("--rows", type=int, default=1000, show_default=True, help="exact row count")
@click.option("--peers", type=int, default=16, show_default=True)
@click.option("--et-share", type=float, default=0.3, show_default=True)
@click.option("--addpath-share", type=float, default=0.1, show_default=True)
@click.option("--two-byte-share", type=float, default=0.1, show_default=True)
@click.option("--state-share", type=float, default=0.02, show_default=True)
@click.option(
    "--host-bits-share",
    type=float,
    default=0.0,
    show_default=True,
    help="share of prefixes written with a host bit set (e.g. 11.13.0.0/13)",
)
@_SEED
@_TS
@_OUT
@_COMP
def updates(
    rows: int,
    peers: int,
    et_share: float,
    addpath_share: float,
    two_byte_share: float,
    state_share: float,
    host_bits_share: float,
    seed: int,
    timestamp: int,
    output: Path,
    compression: Compression | None,
) -> None:
    """BGP4MP / BGP4MP_ET: UPDATEs, withdrawals, STATE_CHANGEs and KEEPALIVEs."""
    spec = UpdatesSpec(
        rows=rows,
        seed=seed,
        timestamp=timestamp,
        peers=peers,
        et_share=et_share,
        addpath_share=addpath_share,
        two_byte_share=two_byte_share,
        state_share=state_share,
        host_bits_share=host_bits_share,
    )
    started = time.monotonic()
    _report(output, write_file(output, generate_updates(spec), compression), started)


if __name__ == "__main__":
    main()
