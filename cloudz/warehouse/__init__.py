"""The warehouse: the routes table, the files catalog and everything that reads or writes them.

- ``schema``: the routes table's layout (one source for the emulator, the provider and Terraform);
- ``file_rows`` / ``read_back``: counting a file's rows in its partitions, and reading them back;
- ``file_catalog``, ``coverage_table``, ``coverage_report``, ``append_only``: the catalog of files
  and the reconcile's coverage, in append-only tables (no DML on the hot path);
- ``load_claims``: a file claimed before its load, so no two paths load it twice;
- ``migration``: schema changes of an existing table;
- ``clients``: the Google clients, pointed at the emulators or at Google.
"""
