"""The receiver's domain metrics (call counts and latency are in ``interceptors``)."""

from __future__ import annotations

from prometheus_client import Counter

UPLOADS = Counter(
    "cloudz_uploads",
    "Upload calls by how they ended (an Outcome, or the error reason)",
    ["result"],
)
BYTES_RECEIVED = Counter("cloudz_upload_bytes_received", "MRT bytes received from collectors")
RUNS_TRIGGERED = Counter("cloudz_runs_triggered", "Airflow runs this replica created")
REFUSED = Counter(
    "cloudz_calls_refused",
    "Calls refused before any work, by method and reason (credential, permission, busy, idle)",
    ["method", "reason"],
)
