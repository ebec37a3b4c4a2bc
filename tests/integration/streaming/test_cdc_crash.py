"""``lakeworks stream run`` of a PostgreSQL CDC node killed with ``kill -9`` at random
points while the source keeps changing: each restart resumes from the position
committed with the rows, and in the end the target equals the source (count and
checksum), updates and deletes applied, nothing lost, nothing twice."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from lakeworks.engines.registry import engine_for
from lakeworks.spec.loader import load_workspace
from tests.integration.streaming.pg_source import Source

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
LAKEWORKS = str(Path(sys.executable).parent / "lakeworks")
CHECKSUM = "SELECT count(*), coalesce(sum(id * 7 + qty), 0), coalesce(sum(length(note)), 0)"


def _changes(source: Source, stop: threading.Event, seed: int) -> None:
    """Random inserts, updates and deletes (several per transaction) until ``stop``."""
    rng = random.Random(seed)
    next_id = 5001
    while not stop.is_set():
        with source.conn.transaction():
            for _ in range(rng.randint(1, 20)):
                pick = rng.random()
                if pick < 0.5:
                    source.sql(
                        "INSERT INTO S.items VALUES (%s, %s, %s)",
                        [next_id, rng.randint(0, 99), "x" * rng.randint(0, 9)],
                    )
                    next_id += 1
                elif pick < 0.8:
                    source.sql(
                        "UPDATE S.items SET qty = qty + 1, note = note || 'u' WHERE id = %s",
                        [rng.randint(1, next_id)],
                    )
                else:
                    source.sql("DELETE FROM S.items WHERE id = %s", [rng.randint(1, next_id)])
        time.sleep(0.005)


def _start(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LAKEWORKS, "stream", "run", "wf.items", "-w", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _status(root: Path) -> dict[str, object]:
    done = subprocess.run(
        [LAKEWORKS, "stream", "status", "--json", "-w", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    return found[0] if found else {}


def test_kill_9_at_random_points_loses_and_repeats_nothing(
    tmp_path: Path,
    source: Source,
) -> None:
    source.sql("CREATE TABLE S.items (id int PRIMARY KEY, qty int NOT NULL, note text NOT NULL)")
    source.sql("INSERT INTO S.items SELECT i, i % 10, 'n' FROM generate_series(1, 5000) i")
    root = tmp_path / "ws"
    (root / "workflows" / "wf").mkdir(parents=True)
    config = {
        "name": "cdcws",
        "data_sources": {"pg": {"type": "postgres", "database": "test", "user": "postgres"}},
    }
    (root / "lakeworks.yml").write_text(yaml.safe_dump(config))
    spec = {
        "source": {
            "type": "postgres_cdc",
            "data_source": "pg",
            "tables": [f"{source.schema}.items"],
            "slot": source.slot,
        },
        "target": {"table": "items"},
        "flush": {"seconds": 0.3},
    }
    (root / "workflows" / "wf" / "items.stream.yml").write_text(yaml.safe_dump(spec))
    rng = random.Random(19)
    stop = threading.Event()
    writer = threading.Thread(target=_changes, args=(source, stop, 19))
    process = _start(root)
    writer.start()
    try:
        for _ in range(3):
            time.sleep(rng.uniform(1.0, 3.0))
            process.send_signal(signal.SIGKILL)
            process.wait(30)
            process = _start(root)
        time.sleep(1.0)
    finally:
        stop.set()
        writer.join(30)
    try:
        expected = source.sql(CHECKSUM + " FROM S.items")[0]
        end = source.sql("SELECT pg_current_wal_lsn()::text")[0][0]
        # a change after every other one (on a row that exists: the writer deletes some)
        source.sql("UPDATE S.items SET qty = qty WHERE id = (SELECT min(id) FROM S.items)")
        high, low = end.split("/")
        wanted = int(high, 16) << 32 | int(low, 16)
        deadline = time.monotonic() + 120
        while True:  # until the committed position has passed every change made
            status = _status(root)
            stored = json.loads(str(status.get("positions") or "{}"))
            if stored.get(f"pg:{source.slot}", 0) >= wanted:
                break
            assert process.poll() is None, "the stream ended"
            assert time.monotonic() < deadline, json.dumps(status, default=str)
            time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    engine = engine_for(load_workspace(root), "dev")
    try:
        session = engine.session()
        try:
            got = session.execute(CHECKSUM + " FROM items").rows[0]
            distinct = session.execute("SELECT count(DISTINCT id) FROM items").rows[0][0]
        finally:
            session.close()
    finally:
        engine.close()
    assert tuple(int(str(v)) for v in got) == tuple(int(v) for v in expected)
    assert distinct == got[0]
