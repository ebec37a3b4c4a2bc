"""``lakeworks stream run`` of a PostgreSQL CDC node while its database server is
restarted mid-stream (a cluster of the test's own): the stream reconnects with backoff
and resumes from the position committed with the rows; in the end the target equals
the source (count and checksum), updates and deletes applied, nothing lost, nothing
twice."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from lakeworks.engines.registry import engine_for
from lakeworks.spec.loader import load_workspace
from tests.integration.streaming.pg_cluster import Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
LAKEWORKS = str(Path(sys.executable).parent / "lakeworks")
CHECKSUM = "SELECT count(*), coalesce(sum(id * 7 + qty), 0), coalesce(sum(length(note)), 0)"
SLOT = "lw_restart_items"


class Writer:
    """Random inserts, updates and deletes (several per transaction) until stopped;
    reconnects when the server goes away (a transaction cut off is simply not made)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.stop = threading.Event()
        self.committed = 0
        self.failed = 0
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        rng = random.Random(5)
        next_id = 20001
        conn = self.cluster.connect()
        while not self.stop.is_set():
            try:
                with conn.transaction():
                    for _ in range(rng.randint(1, 50)):
                        pick = rng.random()
                        if pick < 0.6:
                            conn.execute(
                                "INSERT INTO items VALUES (%s, %s, %s)",
                                [next_id, rng.randint(0, 99), "x" * rng.randint(0, 9)],
                            )
                            next_id += 1
                        elif pick < 0.85:
                            conn.execute(
                                "UPDATE items SET qty = qty + 1, note = note || 'u' WHERE id = %s",
                                [rng.randint(1, next_id)],
                            )
                        else:
                            conn.execute(
                                "DELETE FROM items WHERE id = %s", [rng.randint(1, next_id)]
                            )
                self.committed += 1
            except psycopg.OperationalError:
                self.failed += 1
                next_id += 1000  # ids of a cut-off transaction may or may not exist
                conn.close()
                conn = self.cluster.connect()
            time.sleep(0.002)
        conn.close()


def _status(root: Path) -> dict[str, object]:
    done = subprocess.run(
        [LAKEWORKS, "stream", "status", "--json", "-w", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    return found[0] if found else {}


def _lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return int(high, 16) << 32 | int(low, 16)


def test_a_server_restart_mid_stream_loses_and_repeats_nothing(
    tmp_path: Path, cluster: Cluster
) -> None:
    conn = cluster.connect()
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, note text NOT NULL)")
    conn.execute("INSERT INTO items SELECT i, i % 10, 'n' FROM generate_series(1, 20000) i")
    root = tmp_path / "ws"
    (root / "workflows" / "wf").mkdir(parents=True)
    source = {
        "type": "postgres",
        "host": "127.0.0.1",
        "port": cluster.port,
        "database": "postgres",
        "user": "postgres",
    }
    (root / "lakeworks.yml").write_text(
        yaml.safe_dump({"name": "cdcws", "data_sources": {"pg": source}})
    )
    spec = {
        "source": {
            "type": "postgres_cdc",
            "data_source": "pg",
            "tables": ["public.items"],
            "slot": SLOT,
        },
        "target": {"table": "items"},
        "flush": {"seconds": 0.3},
    }
    (root / "workflows" / "wf" / "items.stream.yml").write_text(yaml.safe_dump(spec))
    with (tmp_path / "stream.log").open("wb") as log:
        process = subprocess.Popen(
            [LAKEWORKS, "stream", "run", "wf.items", "-w", str(root)], stdout=log, stderr=log
        )
    writer = Writer(cluster)
    try:
        deadline = time.monotonic() + 120
        while not json.loads(str(_status(root).get("positions") or "{}")):  # the snapshot
            assert process.poll() is None, "the stream ended"
            assert time.monotonic() < deadline, "no snapshot"
            time.sleep(0.3)
        conn.close()
        writer.thread.start()
        time.sleep(2.0)
        cluster.restart()  # while changes flow and the stream applies them
        time.sleep(3.0)
        writer.stop.set()
        writer.thread.join(60)
        conn = cluster.connect()
        expected = conn.execute(CHECKSUM + " FROM items").fetchone()
        end = _lsn(str(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]))
        # a change after every other one (on a row that exists: the writer deletes some)
        conn.execute("UPDATE items SET qty = qty WHERE id = (SELECT min(id) FROM items)")
        deadline = time.monotonic() + 180
        while True:  # until the committed position has passed every change made
            status = _status(root)
            stored = json.loads(str(status.get("positions") or "{}"))
            if stored.get(f"pg:{SLOT}", 0) >= end:
                break
            assert process.poll() is None, "the stream ended"
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
    finally:
        writer.stop.set()
        if writer.thread.is_alive():
            writer.thread.join(60)
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        conn.close()
    assert writer.committed > 50, "the changes did not flow"
    assert int(str(status["restarts"])) >= 1, "the stream did not see the restart"
    assert "restarting in" in (tmp_path / "stream.log").read_text()
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
    assert expected is not None
    assert tuple(int(str(v)) for v in got) == tuple(int(v) for v in expected)
    assert distinct == got[0]
