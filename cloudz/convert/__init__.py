"""MRT → Avro conversion: every route of a RouteViews MRT file as one row (see docs/row-schema.md).

Modules: ``decompress`` (bz2/gzip/raw by magic bytes), ``framing`` (whole records, damage),
``decode`` (one record through mrtparse), ``peer_index`` (TABLE_DUMP_V2's peer table),
``attributes`` and ``rows`` (records → row dicts in bgpdump's text forms), ``drops`` (why a
record was dropped or repaired), ``avro_writer`` (atomic streaming write), ``report``, ``limits``
(what stops a decompression bomb); the engines: ``reference`` (mrtparse and fastavro, the
definition) and ``fast_path`` with ``_fastmrt`` (the compiled one, the default; its C source in
``fastmrt/``, one file per MRT type and per path attribute).
"""

from cloudz.convert.converter import convert_file
from cloudz.convert.limits import LimitExceeded, Limits
from cloudz.convert.report import ConversionReport, Damage

__all__ = ["ConversionReport", "Damage", "LimitExceeded", "Limits", "convert_file"]
