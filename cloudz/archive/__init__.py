"""The archive: the rules for a file's archive path and the object store that keeps its bytes.

- ``paths``: the grammar of RouteViews' and RIPE RIS's archive paths (collector, kind, dump time),
  parsed once at the boundary and checked against the file's own content;
- ``store``: create-only writes of a raw file and its derived objects, checksum in the metadata.

The lowest floor of the pipeline: it imports nothing else of ``cloudz`` but the settings.
"""
