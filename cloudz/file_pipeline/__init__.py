"""The work of the per-file DAG's tasks, kept out of the DAG file.

``dags/mrt_file.py`` is parsed by every task process; it imports these modules inside the
task callables only, so the Google clients and the provider load when a task runs, not
when the DAG file is parsed.
"""
