"""Replacing a bad archived file: the operator's quarantine (``cloudz-quarantine``).

An archive path is create-only: whoever wrote it first owns it, so a collector that once
uploaded a truncated or garbage file under the right name would keep that path broken for good
(the correct bytes get CONFLICT). Quarantine is the one way out, and only an operator's:

- ``objects``: where quarantined objects go (the private working bucket's ``_quarantine/``)
  and the moves, each under GCS generation preconditions;
- ``route_rows``: the file version's rows deleted from the routes table, one DML per monthly
  partition, within BigQuery's limits on mutating DML;
- ``audit``: the operations table ``quarantine`` (who, when, why, both hashes);
- ``replace``: the steps in order, safe to run again after a crash at any point.

It sits above the warehouse and the archive (it uses both) and below the receiver, which asks
``objects.is_quarantined`` before it takes the same bad bytes again.
"""
