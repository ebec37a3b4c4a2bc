"""Inputs no route may choke on, sign-in locks by account and address, forwarded
addresses. Every route is walked, so a new route gets the same checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lakeworks.api.app import create_app
from lakeworks.api.services import ServerServices
from lakeworks.deploy import editing
from lakeworks.errors import UserError
from lakeworks.security.permissions import Role
from lakeworks.security.secrets import SecretBox
from lakeworks.security.throttle import LockoutPolicy
from tests.integration.api.conftest import PASSWORD, WORKSPACE, Api, make_settings
from tests.integration.api.test_route_matrix import api_routes

HUGE = str(2**64)
PLACEHOLDERS = {
    "workspace": WORKSPACE,
    "env": "dev",
    "workflow": "sales_pipeline",
    "node": "02_build_sales_daily",
    "node_key": "sales_pipeline.02_build_sales_daily",
    "username": "vera",
    "action": "rerun",
    "name": "shop",
    "table": "sales_daily",
    "target": "sales_daily",
}
_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _calls(api: Api, replace: Callable[[str, str], str]) -> list[tuple[str, str]]:
    calls = []
    for endpoint in api_routes(api):
        if "{" not in endpoint.path:
            continue
        for param in _PARAM.findall(endpoint.path):
            path = _PARAM.sub(
                lambda m, p=param: (
                    replace(m.group(1), PLACEHOLDERS.get(m.group(1), "1"))
                    if m.group(1) == p
                    else PLACEHOLDERS.get(m.group(1), "1")
                ),
                endpoint.path,
            )
            calls.extend((method, path) for method in sorted(endpoint.methods))
    return calls


def _id_routes_answer(api: Api, headers: dict[str, str]) -> dict[str, int]:
    def huge(name: str, value: str) -> str:
        return HUGE if value == "1" else value

    answers = {}
    for method, path in _calls(api, huge):
        if HUGE in path:
            answers[f"{method} {path}"] = api.client.request(
                method, path, headers=headers, json={}
            ).status_code
    return answers


def test_ids_past_64_bits_answer_4xx_on_every_route(api: Api) -> None:
    for headers in (api.member("vera", Role.VIEWER), api.member("root", superuser=True)):
        answers = _id_routes_answer(api, headers)
        assert len(answers) >= 15
        assert all(400 <= status < 500 for status in answers.values()), answers


@pytest.mark.parametrize("bad", ["%00", "%0A", "x%0A", "%7F"])
def test_control_characters_in_any_path_parameter_answer_400(api: Api, bad: str) -> None:
    headers = api.member("root", superuser=True)
    answers = {}
    for method, path in _calls(api, lambda name, value: value + bad):
        answers[f"{method} {path}"] = api.client.request(
            method, path, headers=headers, json={}
        ).status_code
    assert set(answers.values()) == {400}, answers


def test_a_node_name_ending_in_a_newline_writes_nothing(api: Api) -> None:
    headers = api.member("dev", Role.DEVELOPER)
    response = api.client.put(
        f"/api/workspaces/{WORKSPACE}/workflows/sales_pipeline/nodes/evil%0A",
        json={"content": "SELECT 1\n", "kind": "sql"},
        headers=headers,
    )
    assert response.status_code == 400
    assert "control character" in response.json()["error"]["message"]
    assert not [p for p in api.home.rglob("*") if "evil" in p.name]


def test_a_body_over_the_limit_is_413_and_audited(
    home: Path, api_factory: Callable[..., Api]
) -> None:
    api = api_factory(home, make_settings(max_body_bytes=4096))
    headers = api.member("dev", Role.DEVELOPER)
    url = f"/api/workspaces/{WORKSPACE}/workflows/sales_pipeline/nodes/big"
    response = api.client.put(
        url, json={"content": "-- " + "x" * 5000, "kind": "sql"}, headers=headers
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not (home / "workflows/sales_pipeline/big.sql").exists()

    def chunks() -> object:
        for _ in range(5):
            yield b"x" * 1024

    streamed = api.client.put(url, content=chunks(), headers=headers)  # type: ignore[arg-type]
    assert streamed.status_code == 413
    (entry, *_) = api.services.audit.query(any_workspace=True, limit=1)
    assert (entry.method, entry.status) == ("PUT", 413)


def test_an_edit_does_not_wait_long_for_the_workspace_lock(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(editing, "LOCK_WAIT_SECONDS", 0.2)
    headers = api.member("dev", Role.DEVELOPER)
    lock = editing._lock_for(api.home.resolve())
    with lock:  # another edit is being written
        response = api.client.put(
            f"/api/workspaces/{WORKSPACE}/workflows/sales_pipeline/nodes/x1",
            json={"content": "SELECT 1\n", "kind": "sql"},
            headers=headers,
        )
    assert response.status_code == 503
    assert "another edit" in response.json()["error"]["message"]
    ok = api.client.put(
        f"/api/workspaces/{WORKSPACE}/workflows/sales_pipeline/nodes/x1",
        json={"content": "SELECT 1\n", "kind": "sql"},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text


def _login(client: TestClient, user: str, password: str) -> int:
    return client.post("/api/auth/login", json={"username": user, "password": password}).status_code


def test_strangers_cannot_lock_an_account_out_and_an_admin_unlocks(
    home: Path, api_factory: Callable[..., Api]
) -> None:
    settings = make_settings(
        lockout=LockoutPolicy(user_failures=3, address_failures=100),
        trusted_proxies=("10.0.0.5",),
    )
    api = api_factory(home, settings)
    admin = api.member("root", superuser=True)
    api.member("dora", Role.ADMIN)
    proxy = TestClient(api.app, client=("10.0.0.5", 4000))

    def via(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": address}

    for _ in range(3):
        proxy.post(
            "/api/auth/login",
            json={"username": "dora", "password": "wrong-wrong"},
            headers=via("203.0.113.66"),
        )
    stranger = proxy.post(
        "/api/auth/login",
        json={"username": "dora", "password": PASSWORD},
        headers=via("203.0.113.66"),
    )
    assert stranger.status_code == 429
    # dora, from her own address, still signs in
    own = proxy.post(
        "/api/auth/login",
        json={"username": "dora", "password": PASSWORD},
        headers=via("198.51.100.7"),
    )
    assert own.status_code == 200
    entries = api.services.audit.query(any_workspace=True, limit=20)
    assert {e.client_ip for e in entries if e.status == 429} == {"203.0.113.66"}

    unlocked = api.client.post("/api/users/dora/unlock", headers=admin)
    assert unlocked.status_code == 200
    assert unlocked.json()["cleared"] >= 1
    again = proxy.post(
        "/api/auth/login",
        json={"username": "dora", "password": PASSWORD},
        headers=via("203.0.113.66"),
    )
    assert again.status_code == 200
    assert api.client.post("/api/users/dora/unlock", headers=api.member("dora")).status_code == 403
    proxy.close()


def test_forwarded_addresses_are_ignored_unless_the_peer_is_a_trusted_proxy(
    home: Path, api_factory: Callable[..., Api]
) -> None:
    api = api_factory(home)  # no trusted proxies: the default
    for _ in range(3):
        api.client.post(
            "/api/auth/login",
            json={"username": "dora", "password": "wrong-wrong"},
            headers={"X-Forwarded-For": "203.0.113.66"},
        )
    entries = api.services.audit.query(any_workspace=True, limit=5)
    assert entries and {e.client_ip for e in entries} == {"testclient"}


def test_an_invalid_trusted_proxy_setting_is_a_clear_error(api: Api) -> None:
    services = ServerServices(
        api.services.db,
        SecretBox([SecretBox.new_key()]),
        make_settings(trusted_proxies=("proxy.local",)),
    )
    try:
        with pytest.raises(UserError, match="invalid trusted proxy"):
            create_app(services)
    finally:
        services.close()


def test_text_with_lone_surrogates_is_refused_not_a_server_error(api: Api) -> None:
    headers = api.member("dev", Role.DEVELOPER)
    response = api.client.put(
        f"/api/workspaces/{WORKSPACE}/workflows/sales_pipeline",
        content=b'{"content": "description: \\ud955"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "valid Unicode" in response.text
    assert "\\ud955" not in (api.home / "workflows/sales_pipeline/workflow.yml").read_text()
