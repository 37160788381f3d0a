"""Synthetic MRT files with known contents, for tests and benchmarks of the converter.

Every generator yields :class:`~cloudz.mrtgen.records.GeneratedRecord` objects one at a time
(constant memory for any size): the record's bytes, how many rows ``bgpdump -m`` prints for it
and, on request, the exact rows the converter must produce (``cloudz.MrtRow`` without the
per-file columns). Output is a pure function of the seed.

Modules: ``records`` (MRT / BGP framing, NLRI), ``attributes`` (path attributes and the
row columns they mean), ``rib`` (TABLE_DUMP_V2), ``updates`` (BGP4MP / BGP4MP_ET),
``output`` (raw / bz2 / gz files), ``__main__`` (the CLI).
"""

from cloudz.mrtgen.output import WriteResult, write_file
from cloudz.mrtgen.records import GeneratedRecord
from cloudz.mrtgen.rib import RibSpec, generate_rib
from cloudz.mrtgen.updates import UpdatesSpec, generate_updates

__all__ = [
    "GeneratedRecord",
    "RibSpec",
    "UpdatesSpec",
    "WriteResult",
    "generate_rib",
    "generate_updates",
    "write_file",
]
