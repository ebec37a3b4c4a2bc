"""A writer killed outright (kill -9) mid-write leaves the previous version intact and
only files no version names; vacuum deletes those and the files overwrites retired."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from lakeworks.engines.base import WriteMode
from lakeworks.engines.lakehouse import duckdb_engine as lakehouse_duckdb
from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.duckdb_engine import LakehouseDuckDBEngine
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.engines.lakehouse.vacuum import vacuum
from lakeworks.errors import NotFound
from lakeworks.store.database import Database

WRITER = textwrap.dedent(
    """
    import sys
    from lakeworks.engines.lakehouse.catalog import Lakehouse
    from lakeworks.engines.lakehouse.duckdb_engine import LakehouseDuckDBEngine
    from lakeworks.engines.lakehouse.storage import open_storage
    from lakeworks.store.database import Database

    db = Database.open(sys.argv[1])
    engine = LakehouseDuckDBEngine(Lakehouse(db, open_storage(sys.argv[2]), "ws/dev"), "dev")
    session = engine.session()
    print("writing", flush=True)
    # thousands of partitions: thousands of files, written one after another
    session.execute(
        "INSERT INTO events SELECT range AS id, 'd' || lpad((range % 4000)::VARCHAR, 5, '0') "
        "FROM range(400000)"
    )
    print("committed", flush=True)
    """
)


@pytest.fixture
def setting(tmp_path: Path) -> Iterator[tuple[str, Path, Lakehouse]]:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    root = tmp_path / "lake"
    with Database.open(url) as db:
        yield url, root, Lakehouse(db, open_storage(str(root)), "ws/dev")
        lakehouse_duckdb.close_all()


def files_on_disk(root: Path, table: str) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / table).rglob("*.parquet")}


def test_killed_writer_leaves_the_previous_version(
    setting: tuple[str, Path, Lakehouse],
) -> None:
    url, root, lake = setting
    lake.write(
        "events",
        pa.table({"id": [1, 2], "day": ["d00001", "d00002"]}),
        WriteMode.APPEND,
        partition_by=["day"],
    )
    before = lake.snapshot("events")
    known = {f.path for f in before.files}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 120
        while len(files_on_disk(root, "events") - known) < 20:
            assert writer.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline, "the writer wrote no files"
            time.sleep(0.01)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()

    after = lake.snapshot("events")
    assert after.version == before.version
    assert sorted(lake.read("events").column("id").to_pylist()) == [1, 2]
    reader = LakehouseDuckDBEngine(lake, "dev").session()
    try:
        assert reader.execute("SELECT count(*) FROM events").rows == [(2,)]
    finally:
        reader.close()
    orphans = files_on_disk(root, "events") - known
    assert orphans  # the killed write's files are there, named by no version

    # a writer may still be writing files younger than the retention: they stay
    assert vacuum(lake).orphan_files == 0
    report = vacuum(lake, retain=timedelta(0))
    assert report.orphan_files == len(orphans)
    assert files_on_disk(root, "events") == known
    assert sorted(lake.read("events").column("id").to_pylist()) == [1, 2]


def test_vacuum_deletes_retired_files_and_says_which_versions_are_gone(
    setting: tuple[str, Path, Lakehouse],
) -> None:
    _url, root, lake = setting
    for n in (1, 2, 3):
        lake.write("t", pa.table({"v": [n] * 10}), WriteMode.OVERWRITE)
    assert len(files_on_disk(root, "t")) == 3
    assert lake.read("t", version=1).column("v").to_pylist() == [1] * 10

    kept = vacuum(lake)  # retired moments ago: readers of versions 1 and 2 may need them
    assert (kept.retired_files, kept.orphan_files) == (0, 0)

    report = vacuum(lake, retain=timedelta(0))
    assert report.retired_files == 2 and report.bytes_freed > 0
    assert len(files_on_disk(root, "t")) == 1
    assert lake.read("t").column("v").to_pylist() == [3] * 10
    with pytest.raises(NotFound, match="cleaned up by a vacuum"):
        lake.read("t", version=2)
    assert vacuum(lake, retain=timedelta(0)).retired_files == 0
