"""The archive: the rules for a file's archive path and the object store that keeps its bytes.

- ``paths``: the grammar of RouteViews' and RIPE RIS's archive paths (collector, kind, dump time),
  parsed once at the boundary and checked against the file's own content;
- ``archived_file``: ``ArchivedFile``, one archived file version (checked path, sha256, size,
  the name's time in UTC), made once where a file enters and passed to every stage;
- ``store``: create-only writes of a raw file and its derived objects, checksum in the metadata.

The lowest floor of the pipeline: it imports nothing else of ``cloudz`` but the settings and
the run conf's keys (``cloudz.pipeline_contract``).
"""
