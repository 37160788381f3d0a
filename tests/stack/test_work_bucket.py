"""The working prefixes in a bucket of their own (issue 22): the archive bucket a deployment
makes public holds archived files and their Avro rows only; staging objects and claims go to the
private working bucket, on fake-gcs-server (the copy between the two is a cross-bucket rewrite)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from cloudz.archive.store import CLAIM_PREFIX, ArchiveStore, PathBusy, StoreResult
from cloudz.settings import Settings
from cloudz.stack.provision import provision
from cloudz.warehouse.clients import storage_client

pytestmark = pytest.mark.stack

PATH = "work-split/bgpdata/2024.01/UPDATES/updates.20240131.0000.bz2"


@pytest.fixture(scope="module")
def split(cloud: Settings) -> Settings:
    settings = dataclasses.replace(cloud, work_bucket=f"{cloud.bucket}-work")
    provision(settings)
    return settings


def _names(settings: Settings, bucket: str) -> set[str]:
    return {b.name for b in storage_client(settings).bucket(bucket).list_blobs()}


def test_provision_creates_the_working_bucket(split: Settings) -> None:
    # (its leftover rule, LEFTOVER_PREFIXES, is accepted and not kept by fake-gcs-server)
    assert storage_client(split).get_bucket(split.working_bucket).name == split.working_bucket


def test_a_stored_file_leaves_nothing_of_its_work_in_the_archive_bucket(split: Settings) -> None:
    data = b"BZh9" + bytes(range(256)) * 40
    sha = hashlib.sha256(data).hexdigest()
    store = ArchiveStore(storage_client(split), split.bucket, split.working_bucket)
    before = _names(split, split.working_bucket)
    outcome = store.store(PATH, sha, len(data), iter([data[:1000], data[1000:]]))
    assert outcome.result is StoreResult.STORED
    archive = storage_client(split).bucket(split.bucket)
    assert archive.blob(PATH).download_as_bytes() == data
    assert {n for n in _names(split, split.bucket) if n.startswith("_")} == set()
    assert _names(split, split.working_bucket) == before  # staging and claim deleted


def test_a_claim_in_the_working_bucket_holds_the_path(split: Settings) -> None:
    path = PATH.replace(".0000.", ".0100.")
    work = storage_client(split).bucket(split.working_bucket)
    work.blob(f"{CLAIM_PREFIX}{path}").upload_from_string(
        json.dumps({"sha256": "00", "writer": "dead-host:1"}), if_generation_match=0
    )
    store = ArchiveStore(storage_client(split), split.bucket, split.working_bucket)
    data = b"BZh9" + b"x" * 100
    with pytest.raises(PathBusy) as busy:
        store.store(path, hashlib.sha256(data).hexdigest(), len(data), iter([data]), claim_wait=0.5)
    assert busy.value.writer == "dead-host:1"
    assert storage_client(split).bucket(split.bucket).get_blob(path) is None
