"""``lakeworks up`` killed with ``kill -9`` at random points and restarted.

Over a simulated day of hourly cycles (a fast ``LAKEWORKS_CLOCK``), the server is
killed 20 times at random moments and restarted after a random pause. Each restart
takes over from its dead predecessor at once (no "serves one process at a time"
refusal), reclaims what it held and retries it. At the end every hourly instance of
both nodes succeeded with exactly one successful attempt, no two attempts of a cycle
ever overlapped, no child of a killed server outlived it, and the warehouse table the
SQL node fills holds each cycle exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import sqlalchemy as sa

from lakeworks.runtime.clock import SimulatedClock
from lakeworks.runtime.sandbox import ENV_SANDBOX_WRITABLE, SandboxMode, current
from lakeworks.store.database import Database
from lakeworks.store.schema import attempts, instances
from tests.services import free_port, require_sandbox

pytestmark = pytest.mark.slow

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
KILLS = 20
DAY = datetime(2026, 4, 10, tzinfo=UTC)
SPEED = 720.0
"""Simulated seconds per real second: a day in 120 s, about as long as the 20 kills take."""

MARK = """\
echo "$cyctime $LAKEWORKS_ATTEMPT start" >> "$out/marks"
(sleep 60; echo "$cyctime orphan" >> "$out/marks") &
sleep 0.4
echo "$cyctime $LAKEWORKS_ATTEMPT end" >> "$out/marks"
"""

LOAD = """\
-- ---
-- depends_on: [mark]
-- ---
CREATE TABLE IF NOT EXISTS cycles (cyc STRING) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE cycles PARTITION (ds='$[yyyymmddhh24]') SELECT '$[yyyymmddhh24miss]';
"""


def _workspace(root: Path, out: Path) -> Path:
    flow = root / "workflows/hourly"
    flow.mkdir(parents=True)
    (root / "lakeworks.yml").write_text(f"name: crashy\ntimezone: UTC\nparameters:\n  out: {out}\n")
    (flow / "workflow.yml").write_text(
        "schedule: {cycle: hour, start: '2026-04-10', end: '2026-04-10'}\n"
        "defaults: {retries: 30, retry_delay_seconds: 0}\n"
    )
    (flow / "mark.sh").write_text(MARK)
    (flow / "load.sql").write_text(LOAD)
    return root


def _wait(check: Callable[[], Any], seconds: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text()[-4000:]}")


def _healthy(client: httpx.Client) -> bool:
    try:
        answer = client.get("/api/health")
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json()["parts"]["scheduler"] == "running"


def _states(root: Path) -> dict[tuple[str, datetime], str]:
    url = f"sqlite:///{root / '.lakeworks/meta.db'}"
    with Database.open(url, migrate=False) as db, db.read() as conn:
        rows = conn.execute(
            sa.select(instances.c.node_key, instances.c.cycle_time, instances.c.state)
        )
        return {(n, c): s for n, c, s in rows}


@pytest.mark.timeout(600)
def test_kill_9_at_random_points_runs_every_instance_exactly_once(tmp_path: Path) -> None:
    require_sandbox()  # children must die with the killed server
    rng = random.Random(int(os.environ.get("LAKEWORKS_TEST_SEED", time.time())))
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the node runs as an unprivileged user when the tests run as root
    root = _workspace(tmp_path / "ws", out)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    clock = SimulatedClock(DAY, SPEED, time.time() + 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEWORKS_")}
    env |= {
        "LAKEWORKS_CLOCK": clock.spec(),
        "LAKEWORKS_ADMIN_PASSWORD": "crash-test-admin-pw",
        ENV_SANDBOX_WRITABLE: str(out),
    }
    deployed = subprocess.run(
        [LAKEWORKS, "deploy", str(root)], env=env, capture_output=True, text=True, check=False
    )
    assert deployed.returncode == 0, deployed.stderr
    log = tmp_path / "server.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            return subprocess.Popen(
                [LAKEWORKS, "up", "-w", str(root), "--port", str(port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
            )

    server = start()
    client = httpx.Client(base_url=base, timeout=2)
    try:
        _wait(lambda: _healthy(client), 60, "the first start", log)
        for _ in range(KILLS):  # at a random moment: starting, idle or running nodes
            time.sleep(rng.uniform(1.0, 10.0))
            assert server.poll() is None, log.read_text()[-4000:]
            server.send_signal(signal.SIGKILL)
            server.wait(10)
            time.sleep(rng.uniform(0.0, 2.0))  # 0-20 s in production; shortened
            server = start()
        _wait(lambda: _healthy(client), 60, "the last restart", log)

        def day_done() -> bool:
            states = _states(root)
            day = {k: s for k, s in states.items() if k[1].date() == DAY.date()}
            return len(day) == 48 and all(s == "success" for s in day.values())

        _wait(day_done, 120, "every instance of the day to succeed", log)
    finally:
        client.close()
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    text = log.read_text()
    assert "serves one Lakeworks process at a time" not in text
    if current().mode is SandboxMode.BWRAP:  # every start confined its nodes the same way
        assert text.count("nodes run in bubblewrap") == text.count("nodes run in")
    assert "took over from" in text  # at once, not after a heartbeat timeout
    _check_exactly_once(root, out)


def _check_exactly_once(root: Path, out: Path) -> None:
    url = f"sqlite:///{root / '.lakeworks/meta.db'}"
    with Database.open(url, migrate=False) as db, db.read() as conn:
        rows = conn.execute(
            sa.select(instances.c.node_key, instances.c.cycle_time, attempts.c.state).join(
                attempts, attempts.c.instance_id == instances.c.id
            )
        ).all()
    successes: dict[tuple[str, datetime], int] = defaultdict(int)
    for node, cycle, state in rows:
        successes[(node, cycle)] += state == "success"
    assert len(successes) == 48
    assert set(successes.values()) == {1}, successes  # one successful attempt each

    marks = (out / "marks").read_text().splitlines()
    assert not [m for m in marks if "orphan" in m]  # children died with their server
    running: dict[str, str] = {}
    ended: set[str] = set()
    for line in marks:
        cycle, attempt, what = line.split()
        if what == "start":  # a new attempt: the previous one was killed (or unrecorded)
            running[cycle] = attempt
        else:
            assert running.get(cycle) == attempt, f"attempts of {cycle} overlapped: {marks}"
            ended.add(cycle)
    assert len(ended) == 24  # no gaps

    warehouse = root / ".lakeworks/warehouse/prod.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        got = conn.execute("SELECT ds, COUNT(*) FROM cycles GROUP BY ds ORDER BY ds").fetchall()
    assert [count for _ds, count in got] == [1] * 24, got
