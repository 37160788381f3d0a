"""A file's identity: made once from a run conf (or an XCom) and read by every stage."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cloudz import pipeline_contract as contract
from cloudz.archive import paths
from cloudz.archive.archived_file import ArchivedFile
from cloudz.file_pipeline.file_work import FileWork

PATH = "route-views2/bgpdata/2024.01/RIBS/rib.20240115.0200.bz2"
SHA = "ab" * 32


def test_the_conf_round_trip_keeps_the_file() -> None:
    file = ArchivedFile.of(PATH, SHA.upper(), 1234)
    assert file.sha256 == SHA  # checked once, lower case
    again = ArchivedFile.from_conf(file.to_conf())
    assert again == file
    assert (again.collector, again.kind, again.month) == ("route-views2", "RIBS", date(2024, 1, 1))
    assert again.dump_time == datetime(2024, 1, 15, 2, 0, tzinfo=UTC)
    assert again.run_id == f"mrt:{PATH.replace('/', '~')}:{SHA[:16]}"


def test_a_conf_from_an_older_receiver_is_read() -> None:
    """The keys every receiver has written (and a conf an operator typed without a size)."""
    old = {
        contract.CONF_ARCHIVE_PATH: PATH,
        contract.CONF_SHA256: SHA,
        contract.CONF_SIZE: 99,
        contract.CONF_BUCKET: "archive",
        contract.CONF_LEDGER: True,
    }
    assert ArchivedFile.from_conf(old) == ArchivedFile(paths.parse(PATH), SHA, 99)
    typed = {contract.CONF_ARCHIVE_PATH: PATH, contract.CONF_SHA256: SHA}
    assert ArchivedFile.from_conf(typed).size == 0


def test_the_load_reads_the_xcom_of_a_convert_from_before_the_type() -> None:
    xcom = {
        "bucket": "archive",
        "archive_path": PATH,
        "collector": "route-views2",
        "sha256": SHA,
        "size": 5,
        "avro_object": PATH + ".avro",
        "ledger": True,
    }
    work = FileWork.from_xcom(xcom)
    assert (work.bucket, work.ledger, work.file.size) == ("archive", True, 5)
    assert work.to_xcom() == xcom  # the same keys, so an older load reads a newer convert


@pytest.mark.parametrize(
    ("name", "utc"),
    [
        ("updates.20020722.2238.bz2", datetime(2002, 7, 23, 5, 38, tzinfo=UTC)),  # PDT: UTC-7
        ("updates.20030101.0000.gz", datetime(2003, 1, 1, 8, 0, tzinfo=UTC)),  # PST: UTC-8
        ("updates.20030203.0000", datetime(2003, 2, 3, 0, 0, tzinfo=UTC)),  # UTC from then on
        ("updates.20030202.2359.bz2", datetime(2003, 2, 3, 7, 59, tzinfo=UTC)),  # the last PST
    ],
)
def test_names_before_2003_02_03_are_pacific_time(name: str, utc: datetime) -> None:
    folder = f"{name.split('.')[1][:4]}.{name.split('.')[1][4:6]}"
    file = ArchivedFile.of(f"route-views2/bgpdata/{folder}/UPDATES/{name}", SHA)
    assert file.dump_time == utc
    assert file.path.named_time.tzinfo is None  # the name as written stays as written


@pytest.mark.parametrize(
    ("conf", "rule"),
    [
        ({"archive_path": "route-views2/bgpdata/2024.01/RIBS/../../etc/passwd"}, "layout"),
        ({"archive_path": "rv/bgpdata/2024.01/RIBS/updates.20240101.0000.bz2"}, "kind-prefix"),
        ({"archive_path": "rv/bgpdata/0000.01/UPDATES/updates.00010101.0000.bz2"}, "archive-years"),
        ({"archive_path": "rv/bgpdata/2024.03/RIBS/rib.20240101.0000.bz2"}, "month-folder"),
    ],
)  # fmt: skip
def test_a_path_the_archive_refuses_is_no_file(conf: dict[str, str], rule: str) -> None:
    with pytest.raises(paths.ArchivePathError) as err:
        ArchivedFile.from_conf({**conf, "sha256": SHA})
    assert err.value.rule == rule


@pytest.mark.parametrize(
    "conf",
    [
        {},
        {"archive_path": PATH},
        {"archive_path": PATH, "sha256": "not a digest"},
        {"archive_path": PATH, "sha256": SHA, "size": -1},
        {"archive_path": PATH, "sha256": SHA, "size": "many"},
        {"archive_path": ["a", "list"], "sha256": SHA},
    ],
)
def test_a_conf_that_names_no_file_is_refused(conf: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ArchivedFile.from_conf(conf)
