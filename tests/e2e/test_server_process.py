"""``lakeworks up`` as a real process, driven over HTTP.

Start the server on a fresh workspace, sign in as the first administrator, store a
data source password, deploy the workspace to prod, watch the scheduler and worker run
it, query the result, then stop the server while a node is still running: the node
finishes and the process exits cleanly. The data source password must appear in no
response, no server output and no stored log line.
"""

from __future__ import annotations

import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from lakeworks.spec.init import init_workspace
from lakeworks.store.database import Database
from lakeworks.store.schema import instance_logs, instances
from tests.services import server_env, serving

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "first-admin-password"
SECRET = "Pg-pass-e2e-93b1d"
SLOW_NODE = """# ---
# depends_on: [02_build_sales_daily]
# ---
echo "slow node started"
sleep 4
echo "slow node done"
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    init_workspace(root, "sales")
    (root / "workflows/sales_pipeline/03_slow.sh").write_text(SLOW_NODE)
    # today's cycle is due at whatever time of day the test runs (the example says 02:00)
    flow = root / "workflows/sales_pipeline/workflow.yml"
    flow.write_text(flow.read_text().replace('at: "02:00"', 'at: "00:00"'))
    return root


@pytest.fixture
def server(workspace: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    output = tmp_path / "server.log"
    env = server_env(ADMIN_PASSWORD)
    with serving(workspace, env, output, "--grace", "20", ready="/api/openapi.json") as served:
        yield served[0], served[1], output


def _wait(client: httpx.Client, path: str, done: object, seconds: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = client.get(path).json()
        if done(body):  # type: ignore[operator]
            return dict(body)
        time.sleep(0.3)
    raise AssertionError(f"gave up waiting on {path}: {body}")


def test_the_server_runs_deploys_schedules_and_stops_cleanly(
    server: tuple[subprocess.Popen[bytes], str, Path], workspace: Path
) -> None:
    process, base, output = server
    responses: list[str] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        client.event_hooks["response"] = [lambda r: (r.read(), responses.append(r.text))]
        slow_id = _drive(client, process)
    text = output.read_text()
    assert "stopping the scheduler and worker" in text
    _check_what_was_kept(workspace, slow_id, text, responses)


def _drive(client: httpx.Client, process: subprocess.Popen[bytes]) -> int:
    """Sign in, store a secret, deploy, watch prod run; stop while a node runs."""

    spec = client.get("/api/openapi.json").json()
    assert "/api/workspaces/{workspace}/envs/{env}/instances" in spec["paths"]
    login = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    ws = "/api/workspaces/sales-lab"

    source = {
        "type": "postgres",
        "host": "127.0.0.1",
        "database": "test",
        "user": "reporting",
        "password": SECRET,
    }
    assert client.put(f"{ws}/data-sources/crm", json=source).status_code == 403  # no CSRF
    assert client.put(f"{ws}/data-sources/crm", json=source, headers=csrf).status_code == 200
    client.get(f"{ws}/data-sources")

    deployment = client.post(f"{ws}/deployments", json={"description": "first"}, headers=csrf)
    assert deployment.json()["state"] == "ready", deployment.text
    applied = client.post(f"{ws}/deployments/{deployment.json()['id']}/apply", headers=csrf)
    assert applied.json()["number"] == 1

    prod = f"{ws}/envs/prod/instances"
    page = _wait(
        client,
        f"{prod}?node=sales_pipeline.03_slow",
        lambda b: any(i["state"] == "running" for i in b["items"]),
    )
    slow_id = next(i["id"] for i in page["items"] if i["state"] == "running")  # type: ignore[attr-defined]
    for node in ("01_create_and_load_sales_raw", "02_build_sales_daily"):
        states = [
            i["state"] for i in client.get(f"{prod}?node=sales_pipeline.{node}").json()["items"]
        ]
        assert states[-1] == "success"  # today's cycle; tomorrow's is planned, waiting
        assert set(states[:-1]) <= {"waiting_time"}
    counted = client.post(
        f"{ws}/envs/prod/query", json={"sql": "SELECT COUNT(*) FROM sales_daily"}, headers=csrf
    )
    assert counted.json()["rows"] == [[3]]

    process.send_signal(signal.SIGTERM)  # the slow node is still running
    assert process.wait(40) == 0
    return int(slow_id)


def _check_what_was_kept(workspace: Path, slow_id: int, text: str, responses: list[str]) -> None:
    key = workspace / ".lakeworks/secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with Database.open(f"sqlite:///{workspace / '.lakeworks/meta.db'}") as db, db.read() as conn:
        state = conn.execute(
            sa.select(instances.c.state).where(instances.c.id == slow_id)
        ).scalar_one()
        logged = "\n".join(conn.execute(sa.select(instance_logs.c.text)).scalars())
    assert state == "success"  # it finished during the grace period, nothing was lost
    assert "slow node done" in logged
    for where, content in (("server output", text), ("stored logs", logged)):
        assert SECRET not in content, where
    assert not [r for r in responses if SECRET in r]
    assert len(responses) > 10
