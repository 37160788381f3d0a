"""The hourly reconcile: the bucket, the files catalog and Airflow compared, file by file.

- ``freshness``: coverage rows and silence flags from one bucket scan;
- ``bucket_scan``: what the bucket holds, from the objects' own metadata;
- ``findings``: each archived file classed loaded, failed, in flight or to heal;
- ``adopt``: files a per-file run loaded before the catalog existed, adopted, not reloaded;
- ``recount``: the table's rows per file against the catalog's, reloaded where they differ;
- ``airflow_api``: the per-file runs still unfinished; ``run``: the DAG's entry points.
"""
