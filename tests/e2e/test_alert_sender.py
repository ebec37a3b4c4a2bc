"""A sender killed with kill -9 mid-delivery: nothing is lost, a repeat keeps its key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from lakeworks.alerts.tables import alert_deliveries
from lakeworks.bootstrap import install_alerts
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.models import InstanceState as S
from tests.integration.alerts.conftest import DAY, make_world
from tests.integration.alerts.receiver import Receiver

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))

RULES = """
channels:
  hook: {{type: webhook, url: "{url}/hook"}}
rules:
  - name: exhausted
    objects: {{workspace: true}}
    trigger: {{type: retries_exhausted}}
    channels: [hook]
"""


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _sender(root: Path, logs: Path) -> subprocess.Popen[bytes]:
    args = ["alerts", "send", "-w", str(root), "--interval", "0.2", "--claim-seconds", "2"]
    with logs.open("ab") as out:
        return subprocess.Popen(
            [LAKEWORKS, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def test_a_killed_sender_loses_nothing_and_repeats_with_the_same_key(tmp_path: Path) -> None:
    receiver = Receiver(hang_first=30)
    url = receiver.start()
    root = tmp_path / "ws"
    install_alerts()
    db = Database.open(default_database_url(root / ".lakeworks"))
    try:
        world = make_world(db, root, RULES.format(url=url))
        for instance in world.chain:
            world.repo.transition(instance.id, S.RUNNING)
            world.repo.transition(instance.id, S.FAILED, reason="boom", attempts=2)
        assert world.evaluator().run_once(DAY + timedelta(minutes=1)).opened == 3
        with db.read() as conn:
            keys = set(conn.execute(sa.select(alert_deliveries.c.idempotency_key)).scalars())
        assert len(keys) == 3

        logs = tmp_path / "sender.log"
        first = _sender(root, logs)
        try:
            _wait(lambda: len(receiver.requests) >= 1, 30, "the first delivery to arrive")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        with db.read() as conn:
            states = list(conn.execute(sa.select(alert_deliveries.c.state)).scalars())
        assert states == ["pending"] * 3  # killed before it could record anything

        second = _sender(root, logs)
        try:

            def all_sent() -> bool:
                with db.read() as conn:
                    found = conn.execute(sa.select(alert_deliveries.c.state)).scalars()
                    return all(state == "sent" for state in found)

            _wait(all_sent, 60, "every delivery to be sent after the restart")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
    finally:
        db.close()
        receiver.stop()
    received = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert set(received) == keys  # none lost
    repeated = {k for k in received if received.count(k) > 1}
    assert len(received) - len(keys) == len(repeated) <= 1  # only the one in flight
