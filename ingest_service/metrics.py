"""The receiver's Prometheus metrics, served on each replica's own metrics port."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

UPLOADS = Counter(
    "cloudz_uploads",
    "Upload calls by how they ended (an Outcome, or the error reason)",
    ["result"],
)
BYTES_RECEIVED = Counter("cloudz_upload_bytes_received", "MRT bytes received from collectors")
RUNS_TRIGGERED = Counter("cloudz_runs_triggered", "Airflow runs this replica created")
UPLOAD_SECONDS = Histogram(
    "cloudz_upload_seconds",
    "Time from the first message of an upload to its reply",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
