"""The API contract and hostile inputs, against a live ``lakeworks up``.

``schemathesis`` generates requests for every operation of the OpenAPI document, with
an API token per role, and checks that no answer is a server error and every answer
matches its documented schema. Raw HTTP requests (paths sent as-is, forged
``X-Forwarded-For``) check what a client library would normalise away.
"""

from __future__ import annotations

import http.client
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from lakeworks.spec.init import init_workspace
from tests.services import lakeworks_command, server_env, start_server, stop_server

ADMIN_PASSWORD = "contract-admin-password"
PASSWORD = "contract-user-password"
WORKSPACE = "sales-lab"
EXAMPLES = 6
"""Generated requests per operation and role (bounded: the suite stays fast)."""
ROLES = ("viewer", "developer", "operator")
PINNED = {
    "workspace": WORKSPACE,
    "env": "dev",
    "workflow": "sales_pipeline",
    "node": "02_build_sales_daily",
    "node_key": "sales_pipeline.02_build_sales_daily",
    "table": "sales_daily",
    "target": "sales_daily",
}
PINNED_UNDER = {
    "/sync/cursors/": {"node_key": "sales_pipeline.ods_orders"},
    "/dataservice/": {"group": "sales", "name": "daily", "app": "contract-app"},
}
"""Pins for the paths of one area (over ``PINNED``): the objects the server was given."""
SYNC_NODE = "source: {data_source: src, table: orders}\ntarget: {table: ods_orders}\n"
ALERTS = """\
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/lakeworks"}
rules:
  - name: sales_failed
    objects: {workspace: true}
    trigger: {type: retries_exhausted}
    channels: [hook]
"""
SKIPPED = {
    # would end the tokens the test itself signs with
    ("DELETE", "/api/auth/tokens/{token_id}"),
    # a dev run starts real work in the background; covered by the runtime tests
    ("POST", "/api/workspaces/{workspace}/dev-runs"),
}


@dataclass
class Server:
    base: str
    port: int
    workspace: Path
    output: Path
    tokens: dict[str, str]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def _token(base: str, username: str, password: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/api/auth/login", json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        created = client.post("/api/auth/tokens", json={"name": "contract"}, headers=csrf)
        assert created.status_code == 201, created.text
        return str(created.json()["token"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("contract")
    workspace = tmp / "ws"
    init_workspace(workspace, "sales")
    _run_pipeline(workspace)
    _add_test_objects(workspace)
    output = tmp / "server.log"
    env = server_env(ADMIN_PASSWORD)
    options = ["--no-scheduler", "--trusted-proxy", "127.0.0.1"]  # a test speaks for others
    process, base = start_server(workspace, env, output, *options, ready="/api/openapi.json")
    port = int(base.rsplit(":", 1)[1])
    try:
        admin = _token(base, "admin", ADMIN_PASSWORD)
        tokens = {"admin": admin}
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=30
        ) as client:
            for role in ROLES:
                made = client.post("/api/users", json={"username": role, "password": PASSWORD})
                assert made.status_code == 201, made.text
                member = client.put(
                    f"/api/workspaces/{WORKSPACE}/members/{role}", json={"roles": [role]}
                )
                assert member.status_code == 200, member.text
                tokens[role] = _token(base, role, PASSWORD)
            _add_stored_objects(client)
        _set_cursor(workspace)
        yield Server(base, port, workspace, output, tokens)
    finally:
        stop_server(process)


def _run_pipeline(workspace: Path) -> None:
    """Build the example's tables in dev (the data API ``sales/daily`` reads one)."""
    done = subprocess.run(
        [lakeworks_command(), "run", "-w", str(workspace)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _add_test_objects(workspace: Path) -> None:
    """A sync node (its cursor is shown and reset) and alert rules of code."""
    config = workspace / "lakeworks.yml"
    config.write_text(config.read_text() + "data_sources:\n  src: {type: sqlite, path: src.db}\n")
    (workspace / "workflows/sales_pipeline/ods_orders.sync.yml").write_text(SYNC_NODE)
    (workspace / "alerts").mkdir()
    (workspace / "alerts/ops.yml").write_text(ALERTS)


def _add_stored_objects(admin: httpx.Client) -> None:
    """A published data API, an application granted it, a channel and a rule of the API."""
    apis = f"/api/workspaces/{WORKSPACE}/dataservice"
    published = admin.post(f"{apis}/apis/sales/daily/publish", json={"note": "contract"})
    assert published.status_code == 200, published.text
    app = admin.post(f"{apis}/apps", json={"name": "contract-app"})
    assert app.status_code == 201, app.text
    granted = admin.put(f"{apis}/apps/contract-app/grants/sales/daily", json={})
    assert granted.status_code == 200, granted.text
    channel = admin.put(
        f"/api/workspaces/{WORKSPACE}/alerts/channels/desk",
        json={"channel": {"type": "slack", "url": "http://127.0.0.1:9/x"}, "secret": "s3"},
    )
    assert channel.status_code == 200, channel.text
    rule = {
        "objects": {"nodes": ["sales_pipeline.02_build_sales_daily"]},
        "trigger": {"type": "failed"},
        "channels": ["desk"],
    }
    put = admin.put(f"/api/workspaces/{WORKSPACE}/envs/dev/alerts/rules/desk_failed", json=rule)
    assert put.status_code == 200, put.text


def _set_cursor(workspace: Path) -> None:
    command = [lakeworks_command(), "sync", "cursor", "ods_orders", "--set", "42", "--yes"]
    done = subprocess.run(
        [*command, "-w", str(workspace)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _raw(server: Server, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    """A request whose path is sent exactly as written (no dot-segment removal)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_dot_workflow_name_deletes_nothing(server: Server) -> None:
    admin = {"Authorization": f"Bearer {server.tokens['admin']}"}
    with server.client(server.tokens["admin"]) as client:
        kept = client.put(
            f"/api/workspaces/{WORKSPACE}/workflows/keep_me", json={"content": "owner: ops\n"}
        )
        assert kept.status_code == 200, kept.text
    workflows = server.workspace / "workflows"
    before = sorted(p.name for p in workflows.iterdir())
    for name in (".", "..", "%2e", "sales_pipeline%0A"):
        status = _raw(server, "DELETE", f"/api/workspaces/{WORKSPACE}/workflows/{name}", admin)
        assert 400 <= status < 500, name
    assert sorted(p.name for p in workflows.iterdir()) == before
    assert (workflows / "keep_me/workflow.yml").is_file()


def test_nuls_and_huge_ids_answer_4xx(server: Server) -> None:
    viewer = {"Authorization": f"Bearer {server.tokens['viewer']}"}
    paths = [
        f"/api/workspaces/{WORKSPACE}%00/workflows",
        f"/api/workspaces/{WORKSPACE}/envs/dev/instances/{2**64}",
        f"/api/workspaces/{WORKSPACE}/envs/dev/instances/{2**63}/log",
        f"/api/workspaces/{WORKSPACE}/envs/dev/runs/{2**70}",
        f"/api/workspaces/{WORKSPACE}/deployments/{2**64}",
    ]
    for path in paths:
        assert 400 <= _raw(server, "GET", path, viewer) < 500, path


def test_a_declared_huge_body_is_refused_before_it_is_sent(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest("PUT", f"/api/workspaces/{WORKSPACE}/workflows/w/nodes/n")
        connection.putheader("Authorization", f"Bearer {server.tokens['developer']}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(1 << 30))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert b"too_large" in response.read()
    finally:
        connection.close()


def test_strangers_cannot_lock_out_admin_and_the_audit_log_has_their_address(
    server: Server,
) -> None:
    stranger = {"X-Forwarded-For": "203.0.113.77"}
    with server.client() as client:
        answers = [
            client.post(
                "/api/auth/login",
                json={"username": "admin", "password": "guess-guess"},
                headers=stranger,
            ).status_code
            for _ in range(6)
        ]
        assert answers[-1] == 429  # locked for admin, from that address
        right = {"username": "admin", "password": ADMIN_PASSWORD}
        assert client.post("/api/auth/login", json=right, headers=stranger).status_code == 429
        office = {"X-Forwarded-For": "198.51.100.20"}
        assert client.post("/api/auth/login", json=right, headers=office).status_code == 200
    with server.client(server.tokens["admin"]) as admin:
        entries = admin.get("/api/audit", params={"action": "login", "limit": 50}).json()["items"]
    assert {e["client_ip"] for e in entries if e["status"] == 429} == {"203.0.113.77"}
    unlocked = subprocess.run(
        [lakeworks_command(), "users", "unlock", "admin", "-w", str(server.workspace)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unlocked.returncode == 0, unlocked.stderr
    assert "unlocked user admin" in unlocked.stdout
    with server.client() as client:
        assert client.post("/api/auth/login", json=right, headers=stranger).status_code == 200


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _explore(server: Server, operation: Any, headers: dict[str, str]) -> None:
    """Generated requests for one operation as one caller; raises on the first failure."""
    known = dict(PINNED)
    for part, values in PINNED_UNDER.items():
        if part in operation.path:
            known.update(values)
    pins = {
        parameter.name: known[parameter.name]
        for parameter in operation.path_parameters
        if parameter.name in known
    }

    @given(case=operation.as_strategy(path_parameters=pins))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=server.base, headers=headers, checks=CHECKS)

    check()


def test_every_operation_keeps_its_contract_for_every_role(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base}/api/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1
        for role, token in server.tokens.items():
            try:
                _explore(server, operation, {"Authorization": f"Bearer {token}"})
            except (Exception, BaseExceptionGroup) as exc:  # collect all, then report
                failures.append(f"{operation.label} as {role}: {exc}"[:3000])
    assert operations >= 75
    assert not failures, "\n\n".join(failures)
