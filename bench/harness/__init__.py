"""What the benches share: a stack of their own, credentials, uploads, Airflow runs, row counts,
process usage and their figures.

A bench runs as ``python bench/<name>.py``, so ``bench/`` is first on ``sys.path`` and the
benches import these modules as ``harness.<module>``:

- ``places``: the project's folders, its programs and the benches' output folder;
- ``own_stack``: ``cloudz-stack up`` in a state dir of its own on free ports, and ``down``;
- ``credentials``: collector credentials issued (and revoked) in the stack's credentials file;
- ``receiver``: uploads through the receiver's gRPC API, one channel per collector;
- ``airflow_api``: the Airflow REST API v2 calls that follow runs to their outcome;
- ``row_counts``: rows per file in the routes table (BigQuery);
- ``process_usage``: CPU and peak RSS of child processes and of a stack's processes;
- ``figures``: load average, percentiles and the JSON results files.
"""
