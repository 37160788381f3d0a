"""MRT → Avro conversion: every route of a RouteViews MRT file as one row (see docs/row-schema.md).

Modules: ``decompress`` (bz2/gzip/raw by magic bytes), ``framing`` (whole records, damage),
``decode`` (one record through mrtparse), ``attributes`` and ``rows`` (records → row dicts in
bgpdump's text forms), ``avro_writer`` (atomic streaming write), ``report``, ``limits`` (what
stops a decompression bomb), ``fast_path`` and ``_fastmrt.c`` (the compiled engine).
"""

from cloudz.convert.converter import convert_file
from cloudz.convert.limits import LimitExceeded, Limits
from cloudz.convert.report import ConversionReport, Damage

__all__ = ["ConversionReport", "Damage", "LimitExceeded", "Limits", "convert_file"]
