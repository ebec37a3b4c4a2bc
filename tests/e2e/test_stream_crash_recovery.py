"""A Kafka stream survives kill -9 and a broker restart: the warehouse ends up equal
to the topic (count and checksum, updates and deletes applied), nothing lost or twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.conftest import _program, _wait_port, start_service, stop_service
from tests.integration.streaming.world import new_topic, produce
from tests.services import _missing, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TOTAL = 100_000
KEYS = 40_000
LAKEWORKS = str(Path(sys.executable).parent / "lakeworks")


def _broker(port: int, data: Path) -> subprocess.Popen[bytes]:
    program = _program("noida-db")
    if program is None:
        _missing("the noida-db broker")
    assert program is not None
    process = start_service(
        [program, "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", str(data)]
    )
    if not _wait_port(port, process):
        _missing("the noida-db broker (it did not start)")
    return process


def _messages() -> tuple[list[tuple[bytes | None, bytes | None]], dict[int, int]]:
    """Inserts, updates (same id again) and deletes (null values), and the final rows."""
    rng = random.Random(19)
    messages: list[tuple[bytes | None, bytes | None]] = []
    final: dict[int, int] = {}
    for n in range(TOTAL):
        key = rng.randrange(KEYS)
        if key in final and rng.random() < 0.1:
            messages.append((str(key).encode(), None))
            del final[key]
        else:
            messages.append((str(key).encode(), json.dumps({"id": key, "v": n}).encode()))
            final[key] = n
    return messages, final


def _committed(root: Path, since: str = "") -> int:
    """Messages the stream has committed, from its status (the store, not the warehouse);
    0 until the status was written after ``since`` (an ISO time: by this process)."""
    out = subprocess.run(
        [LAKEWORKS, "stream", "status", "wf.ev", "-w", str(root), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return 0
    status = json.loads(out.stdout)[0]
    if status["updated_at"] < since or status["state"] != "running":
        return 0
    return sum(json.loads(status["positions"] or "{}").values())


def _start(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [LAKEWORKS, "stream", "run", "wf.ev", "-w", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LAKEWORKS_ACTOR": "test"},
    )


def _wait_committed(root: Path, at_least: int, stream: subprocess.Popen[bytes]) -> None:
    """Until this process has committed ``at_least`` messages (an earlier process's
    status does not count: a signal sent before this one is up would find no handler)."""
    since = datetime.now(UTC).replace(tzinfo=None).isoformat()
    deadline = time.monotonic() + 300
    while _committed(root, since) < at_least:
        assert stream.poll() is None, "the stream process ended by itself"
        assert time.monotonic() < deadline, "the stream made no progress"
        time.sleep(0.3)


def test_kill_nine_five_times_and_a_broker_restart(tmp_path: Path) -> None:
    import yaml

    port = free_port()
    broker = f"127.0.0.1:{port}"
    data = tmp_path / "broker"
    server = _broker(port, data)
    root = tmp_path / "ws"
    (root / "workflows" / "wf").mkdir(parents=True)
    try:
        topic = new_topic(broker)
        config = {
            "name": "crashws",
            "data_sources": {"events": {"type": "kafka", "bootstrap_servers": broker}},
        }
        (root / "lakeworks.yml").write_text(yaml.safe_dump(config))
        spec = {
            "source": {"data_source": "events", "topics": [topic]},
            "target": {"table": "ev_t", "mode": "upsert", "key": ["id"]},
            "flush": {"seconds": 0.5, "rows": 5000},
        }
        (root / "workflows" / "wf" / "ev.stream.yml").write_text(yaml.safe_dump(spec))
        messages, final = _messages()
        produce(broker, topic, messages)
        rng = random.Random(7)
        for round_number in range(5):
            stream = _start(root)
            _wait_committed(root, (round_number + 1) * TOTAL // 7, stream)
            time.sleep(rng.random() * 0.5)  # somewhere in the middle of a flush, or not
            stream.send_signal(signal.SIGKILL)
            stream.wait()
            if round_number == 2:
                stop_service(server)
                server = _broker(port, data)
        stream = _start(root)
        _wait_committed(root, TOTAL, stream)
        stream.terminate()
        assert stream.wait(timeout=60) == 0
    finally:
        stop_service(server)
    import duckdb

    conn = duckdb.connect(str(root / ".lakeworks" / "warehouse" / "dev.duckdb"), read_only=True)
    try:
        got = conn.execute("SELECT count(*), sum(id), sum(v), count(DISTINCT id) FROM ev_t")
        expected = (len(final), sum(final), sum(final.values()), len(final))
        assert got.fetchone() == expected
    finally:
        conn.close()
