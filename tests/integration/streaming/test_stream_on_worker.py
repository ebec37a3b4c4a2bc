"""``lakeworks stream start`` queues a long-lived instance that a worker runs until
``lakeworks stream stop``; pause is followed; ``ops show`` carries the stream metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.streaming.world import new_topic, produce

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
LAKEWORKS = str(Path(sys.executable).parent / "lakeworks")


def _cli(root: Path, *args: str) -> str:
    done = subprocess.run(
        [LAKEWORKS, *args, "-w", str(root)], capture_output=True, text=True, check=True
    )
    return done.stdout


def _status(root: Path) -> dict[str, object]:
    found: dict[str, object] = json.loads(_cli(root, "stream", "status", "--json"))[0]
    return found


def _until(root: Path, check: str, value: object) -> dict[str, object]:
    deadline = time.monotonic() + 180  # a scheduler and a stream start on a busy machine
    while True:
        status = _status(root)
        if status[check] == value:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


def test_start_pause_and_stop_on_a_worker(tmp_path: Path, kafka_broker: str) -> None:
    topic = new_topic(kafka_broker)
    produce(kafka_broker, topic, [(None, json.dumps({"id": i}).encode()) for i in range(300)])
    root = tmp_path / "ws"
    (root / "workflows" / "wf").mkdir(parents=True)
    config = {
        "name": "workerws",
        "data_sources": {"events": {"type": "kafka", "bootstrap_servers": kafka_broker}},
    }
    (root / "lakeworks.yml").write_text(yaml.safe_dump(config))
    spec = {"source": {"data_source": "events", "topics": [topic]}, "target": {"table": "ev_t"}}
    (root / "workflows" / "wf" / "ev.stream.yml").write_text(yaml.safe_dump(spec))
    assert "instance 1 queued" in _cli(root, "stream", "start", "wf.ev")
    scheduler = subprocess.Popen(
        [LAKEWORKS, "scheduler", "-w", str(root), "-e", "dev"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status = _until(root, "rows_out", 300)
        assert status["state"] == "running" and status["instance_id"] == 1
        _cli(root, "stream", "pause", "wf.ev")
        _until(root, "state", "paused")
        shown = json.loads(_cli(root, "ops", "show", "1", "--json"))
        assert shown["state"] == "running" and shown["stream"]["rows_out"] == 300
        _cli(root, "stream", "stop", "wf.ev")
        _until(root, "state", "stopped")
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=60)
    listing = _cli(root, "ops", "list", "-e", "dev")
    assert "stopped" in listing and listing.count("wf.ev") == 1
