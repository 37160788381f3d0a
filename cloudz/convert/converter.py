"""``convert_file``: one MRT file (bz2, gzip or raw) → one Avro file of rows, plus a report.

Each engine's modules are imported when it runs: the compiled path never loads mrtparse or
fastavro for a file it converts alone (their import is most of a small file's time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from cloudz.convert.limits import DEFAULT_LIMITS, Limits
from cloudz.convert.report import ConversionReport

Engine = Literal["fast", "python"]
FROM_NAME: Final = "from-name"
"""``time_window`` default: the window around the time in ``source_path``'s name."""


def convert_file(
    src: Path,
    dst: Path,
    *,
    collector: str,
    source_path: str,
    source_sha256: str,
    engine: Engine = "fast",
    limits: Limits = DEFAULT_LIMITS,
    time_window: tuple[int, int] | Literal["from-name"] | None = FROM_NAME,
) -> ConversionReport:
    """Convert the MRT file ``src`` into the Avro file ``dst``, streaming.

    Damage is not an error: whole records before it are converted and the damage is described
    in the report (:attr:`ConversionReport.not_mrt` says when nothing in the file was MRT);
    records mrtparse cannot decode are counted and skipped. A file that crosses one of
    ``limits`` (a decompression bomb) raises :class:`~cloudz.convert.limits.LimitExceeded`
    and leaves ``dst`` as it was.

    ``engine="fast"`` (default) runs the compiled converter (:mod:`cloudz.convert.fast_path`),
    which writes the same rows and report; ``"python"`` is the mrtparse reference. The fast
    engine falls back to the reference when it is not built or cannot write the row schema.

    ``time_window``: rows dated outside ``lo <= t < hi`` (microseconds) are counted in the
    report (``time_dropped``, the file *partial*) and not written; by default a day either
    side of the time in ``source_path``'s name (:mod:`cloudz.archive.time_window`), none when
    it names no time; None keeps every row.
    """
    if time_window == FROM_NAME:
        from cloudz.archive.time_window import of_source_path

        window = of_source_path(source_path)
    else:
        window = time_window
    if engine == "fast":
        from cloudz.convert import fast_path

        if fast_path.available():
            return fast_path.convert_file_fast(
                src,
                dst,
                collector=collector,
                source_path=source_path,
                source_sha256=source_sha256,
                limits=limits,
                time_window=window,
            )
        import logging  # here: a small file's conversion is mostly imports

        logging.getLogger(__name__).warning(
            "fast MRT converter unavailable for this schema/build: using engine=python"
        )
    elif engine != "python":
        raise ValueError(f"unknown engine {engine!r}")

    from cloudz.convert.reference import convert_file_reference

    return convert_file_reference(
        src,
        dst,
        collector=collector,
        source_path=source_path,
        source_sha256=source_sha256,
        limits=limits,
        time_window=window,
    )
