"""Google Cloud clients that talk to the local emulators when their env vars say so.

``STORAGE_EMULATOR_HOST`` and ``BIGQUERY_EMULATOR_HOST`` are the variables the
Google libraries (and the provider's hooks) already honour; outside the local
stack they are unset and the clients use Application Default Credentials.
"""

from __future__ import annotations

import os

from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import bigquery, storage

from cloudz.settings import Settings
from cloudz.warehouse.file_rows import TimeWindow, count_rows, file_window


def storage_client(settings: Settings, *, connections: int | None = None) -> storage.Client:
    """A GCS client; ``connections`` sizes its HTTP connection pool (default 10) for a
    caller with that many threads (a receiver replica), which otherwise opens and drops a
    connection per request beyond the tenth."""
    credentials: Credentials | None = None
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    if connections is None:
        return storage.Client(project=settings.gcp_project, credentials=credentials)
    import google.auth
    import requests
    from google.auth.transport.requests import AuthorizedSession

    if credentials is None:
        credentials, _ = google.auth.default(scopes=list(storage.Client.SCOPE))
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return storage.Client(project=settings.gcp_project, credentials=credentials, _http=session)


def bigquery_client(settings: Settings) -> bigquery.Client:
    emulator = os.environ.get("BIGQUERY_EMULATOR_HOST")
    if emulator:
        return bigquery.Client(
            project=settings.gcp_project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": emulator},
        )
    return bigquery.Client(project=settings.gcp_project)


def count_file_rows(
    client: bigquery.Client,
    settings: Settings,
    archive_path: str,
    window: TimeWindow | None = None,
) -> int:
    """How many rows of the file at ``archive_path`` the routes table holds.

    The routes table takes no query without a filter on ``timestamp``: the window is the
    days of the file's rows the files catalog knows (``cloudz.warehouse.file_rows.file_window``)
    unless given.
    """
    if window is None:
        window = file_window(client, settings.files_ref, archive_path)
    return count_rows(client, settings.table_ref, archive_path, window)
