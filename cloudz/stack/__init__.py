"""The embedded local stack: Postgres, the GCS and BigQuery emulators, Airflow and the receivers.

``cloudz-stack`` starts, watches and stops them on one machine, with no Docker, no cloud
account and no system service; all state lives under ``Settings.state_dir``.
"""
