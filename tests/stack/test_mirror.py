"""The mirror step against real processes: a generated archive served by an Apache-style
HTTP server process, and fake-gcs-server as the bucket (no Airflow needed for this step)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from archive_server import ArchiveServer, ArchiveTree, build_archive, serve_archive

from cloudz.archive.store import ArchiveStore, StoreResult
from cloudz.batch.mirror import mirror_range
from cloudz.settings import Settings
from cloudz.sources import HttpArchive
from cloudz.warehouse.clients import storage_client

pytestmark = pytest.mark.stack

DAY = date(2024, 1, 31)


@pytest.fixture(scope="module")
def store(cloud: Settings) -> ArchiveStore:
    return ArchiveStore(storage_client(cloud), cloud.bucket)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiveServer]:
    tree = build_archive(
        tmp_path_factory.mktemp("archive"), days=[DAY], updates_every=timedelta(hours=1)
    )
    with serve_archive(tree) as server:
        yield server


def _file_gets(server: ArchiveServer) -> int:
    return sum(n for path, n in server.requests().items() if path.endswith(".bz2"))


def test_a_range_is_archived_byte_exact_once_and_a_rerun_fetches_nothing(
    served: ArchiveServer, store: ArchiveStore
) -> None:
    tree = served.tree
    assert isinstance(tree, ArchiveTree)
    collectors = [tree.collector(c.name) for c in tree.collectors]
    end = DAY + timedelta(days=1)
    # a collector uploaded one file before the mirror ran: it is not fetched again
    pushed = next(f for f in tree.files if f.collector == "route-views2")
    data = pushed.local_path.read_bytes()
    assert store.store(pushed.archive_path, pushed.sha256, len(data), [data]).result is (
        StoreResult.STORED
    )

    with HttpArchive(served.url) as source:
        first = mirror_range(source, store, collectors, DAY, end)
        in_day = list(tree.files)  # the tree holds this one day only
        assert first.failed == {}
        assert first.present == [pushed.archive_path]
        assert first.listed == len(in_day)
        assert {a.archive_path for a in first.stored} == {f.archive_path for f in in_day} - {
            pushed.archive_path
        }
        bucket = storage_client(Settings()).bucket(store.bucket_name)
        for f in in_day:
            blob = bucket.get_blob(f.archive_path)
            assert blob is not None, f.archive_path
            assert blob.metadata["sha256"] == f.sha256
            assert hashlib.sha256(blob.download_as_bytes()).hexdigest() == f.sha256

        gets = _file_gets(served)
        again = mirror_range(source, store, collectors, DAY, end)
        assert (again.listed, len(again.present), again.archived) == (
            first.listed,
            first.listed,
            [],
        )
        assert _file_gets(served) == gets  # not one file fetched

        # a file that appears between two runs is fetched by the next one
        late = tree.add_file("route-views.sg", "UPDATES", datetime(2024, 1, 31, 23, 59, tzinfo=UTC))
        third = mirror_range(source, store, collectors, DAY, end)
        assert [a.archive_path for a in third.stored] == [late.archive_path]
        assert _file_gets(served) == gets + 1
