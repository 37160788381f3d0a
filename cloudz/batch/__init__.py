"""The mirror and backfill path: many files per run, converted in mapped tasks, loaded in few jobs.

- ``plan``: list a range of the source, fetch what the bucket lacks, diff against the files
  catalog, and cut what is left to convert into chunks for dynamic task mapping;
- ``convert_chunk``: verify and convert each file of a chunk (the per-file DAG's own step);
- ``batch_load``: load the converted files in as few load jobs as BigQuery allows, each file
  claimed first (``cloudz.warehouse.load_claims``) so the live path never loads it a second
  time, and prove each file's rows by the job's own count.
"""
