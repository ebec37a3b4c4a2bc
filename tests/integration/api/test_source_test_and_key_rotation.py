"""Testing a data source's connection through the API, rotating the secret key from a
running server (and picking up a rotation made by the CLI), and editing alert rules
and channels with problems reported at their field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakeworks.errors import UserError
from lakeworks.security.permissions import Role
from lakeworks.security.secrets import (
    ENV_SECRET_KEY,
    KeySource,
    SecretBox,
    SecretStore,
    load_keys,
    rotate_key,
)
from tests.integration.api.conftest import WORKSPACE, Api
from tests.services import free_port, require_postgres

BASE = f"/api/workspaces/{WORKSPACE}"
SOURCES = f"{BASE}/data-sources"
SECRET = "pg-Secret-7f3a9c"


def test_a_data_source_connection_is_tested_with_its_outcome_and_a_hint(api: Api) -> None:
    require_postgres()
    admin = api.member("ada", Role.ADMIN)
    good = {"type": "postgres", "database": "test", "user": "postgres"}
    assert api.client.put(f"{SOURCES}/shop", json=good, headers=admin).status_code == 200
    closed = {**good, "port": free_port()}
    assert api.client.put(f"{SOURCES}/shut", json=closed, headers=admin).status_code == 200

    ok = api.client.post(f"{SOURCES}/shop/test", headers=admin)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["ok"] and body["server"].startswith("PostgreSQL ")
    assert body["message"].startswith("shop (postgres): connected in ")

    failed = api.client.post(f"{SOURCES}/shut/test?timeout=3", headers=admin).json()
    assert not failed["ok"]
    assert "refused" in failed["error"].lower() and "nothing answers" in failed["hint"]

    unknown = api.client.post(f"{SOURCES}/shoop/test", headers=admin)
    assert unknown.status_code == 404
    assert "did you mean 'shop'" in unknown.json()["error"]["details"]["hint"]

    viewer = api.member("vic", Role.VIEWER)
    assert api.client.post(f"{SOURCES}/shop/test", headers=viewer).status_code == 403


def _with_key_file(api: Api, state: Path, monkeypatch: pytest.MonkeyPatch) -> KeySource:
    """Give the server a key file, as ``lakeworks up`` does."""
    monkeypatch.delenv(ENV_SECRET_KEY, raising=False)
    source = load_keys(state)
    api.services.secrets = SecretStore(
        api.services.db, SecretBox(source.keys), key_file=source.path
    )
    api.services.secrets.install()
    return source


def test_an_administrator_rotates_the_key_and_the_server_uses_the_new_one(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _with_key_file(api, tmp_path / "state", monkeypatch)
    root = api.member("root", superuser=True)
    config = {"type": "postgres", "database": "test", "password": SECRET}
    assert api.client.put(f"{SOURCES}/shop", json=config, headers=root).status_code == 200
    admin = api.member("ada", Role.ADMIN)  # a workspace admin is not an installation admin
    refused = api.client.post("/api/secrets/rotate-key", json={}, headers=admin)
    assert refused.status_code == 403

    rotated = api.client.post("/api/secrets/rotate-key", json={}, headers=root)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json() == {"reencrypted": 1, "key_file": str(old.path)}
    new_keys = load_keys(tmp_path / "state").keys
    assert new_keys != old.keys and len(new_keys) == 1
    reference = yaml.safe_load((api.home / "lakeworks.yml").read_text())["data_sources"]["shop"][
        "password_encrypted"
    ]
    assert api.services.secrets.resolve(reference) == SECRET  # the running server
    assert SecretStore(api.services.db, SecretBox(new_keys)).resolve(reference) == SECRET
    with pytest.raises(UserError, match="cannot be decrypted"):
        SecretStore(api.services.db, SecretBox(old.keys)).resolve(reference)
    entry = api.services.audit.query(action="rotate_secret_key", limit=5)
    assert entry and entry[0].actor == "root"


def test_a_rotation_by_the_cli_is_picked_up_by_the_running_server(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _with_key_file(api, tmp_path / "state", monkeypatch)
    api.services.secrets.put(WORKSPACE, "shop.password", SECRET, actor="test")
    rotate_key(api.services.db, old)  # another process: the key file and the store change
    assert api.services.secrets.get(WORKSPACE, "shop.password") == SECRET


def test_a_key_from_the_environment_cannot_be_rotated_by_the_server(api: Api) -> None:
    root = api.member("root", superuser=True)
    refused = api.client.post("/api/secrets/rotate-key", json={}, headers=root)
    assert refused.status_code == 409
    assert "LAKEWORKS_SECRET_KEY" in refused.json()["error"]["message"]


def test_rule_problems_are_reported_at_their_keys(api: Api) -> None:
    operator = api.member("dev", Role.DEVELOPER)
    admin = api.member("ada", Role.ADMIN)
    hook = {"channel": {"type": "webhook", "url": "https://hooks.example.com/x?token=t0k"}}
    assert api.client.put(f"{BASE}/alerts/channels/hook", json=hook, headers=admin).is_success
    rule = {
        "objects": {"workflows": ["sales_pipeline"]},
        "trigger": {"type": "run_time_over", "minutes": -5},
        "channels": ["hook"],
        "max_alerts": 11,
    }
    bad = api.client.put(f"{BASE}/envs/dev/alerts/rules/slow", json=rule, headers=operator)
    assert bad.status_code == 400
    keys = {p["location"]["key"] for p in bad.json()["error"]["details"]["problems"]}
    assert keys == {"trigger.minutes", "max_alerts"}
    unknown = {**rule, "trigger": {"type": "failed"}, "max_alerts": 2, "channels": ["hoook"]}
    missing = api.client.put(f"{BASE}/envs/dev/alerts/rules/slow", json=unknown, headers=operator)
    assert missing.status_code == 400
    problem = missing.json()["error"]["details"]["problems"][0]
    assert problem["location"]["key"] == "channels" and "hoook" in problem["message"]


def test_channels_are_changed_keeping_their_secret_and_deleted_when_unused(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    operator = api.member("dev", Role.DEVELOPER)
    url = "https://hooks.example.com/x?token=t0k"
    first = {"channel": {"type": "webhook", "url": url}, "secret": "sign-Secret-1"}
    assert api.client.put(f"{BASE}/alerts/channels/hook", json=first, headers=admin).is_success
    changed = {"channel": {"type": "webhook", "timeout_seconds": 3}}
    again = api.client.put(f"{BASE}/alerts/channels/hook", json=changed, headers=admin)
    assert again.status_code == 200, again.text
    assert again.json()["has_secret"] is True
    from lakeworks.alerts.service import AlertStore

    stored = AlertStore(api.services.db).channels(WORKSPACE)["hook"]
    assert getattr(stored, "url", None) == url and stored.timeout_seconds == 3
    rule = {"objects": {"workspace": True}, "trigger": {"type": "failed"}, "channels": ["hook"]}
    rules = f"{BASE}/envs/dev/alerts/rules"
    assert api.client.put(f"{rules}/any", json=rule, headers=operator).is_success
    in_use = api.client.delete(f"{BASE}/alerts/channels/hook", headers=admin)
    assert in_use.status_code == 409 and "any" in in_use.json()["error"]["message"]
    assert api.client.delete(f"{rules}/any", headers=operator).is_success
    gone = api.client.delete(f"{BASE}/alerts/channels/hook", headers=admin)
    assert gone.status_code == 200, gone.text
    assert AlertStore(api.services.db).channels(WORKSPACE) == {}
    assert "alert-channel-hook" not in api.services.secrets.names(WORKSPACE)
    viewer = api.member("vic", Role.VIEWER)
    assert api.client.delete(f"{BASE}/alerts/channels/x", headers=viewer).status_code == 403
