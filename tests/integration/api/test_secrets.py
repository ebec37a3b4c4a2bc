"""Secrets: the key file, encrypted storage, write-only data source passwords, redaction,
key rotation."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from lakeworks.connectors import credentials
from lakeworks.errors import UserError
from lakeworks.security.permissions import Role
from lakeworks.security.secrets import (
    ENV_SECRET_KEY,
    RedactingFormatter,
    SecretBox,
    SecretStore,
    load_keys,
    redact,
    rotate_key,
)
from lakeworks.security.tables import stored_secrets
from tests.integration.api.conftest import WORKSPACE, Api

SOURCES = f"/api/workspaces/{WORKSPACE}/data-sources"
SECRET = "pg-Secret-7f3a9c"


def test_the_key_file_is_created_once_readable_only_by_its_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_SECRET_KEY, raising=False)
    first = load_keys(tmp_path)
    assert first.path == tmp_path / "secret.key"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert load_keys(tmp_path).keys == first.keys
    first.path.chmod(0o644)
    with pytest.raises(UserError, match="can be read by other users"):
        load_keys(tmp_path)


def test_the_key_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SecretBox.new_key().decode()
    monkeypatch.setenv(ENV_SECRET_KEY, key)
    source = load_keys(tmp_path)
    assert source.from_environment and source.keys == [key.encode()]
    assert not (tmp_path / "secret.key").exists()
    monkeypatch.setenv(ENV_SECRET_KEY, "not-a-key")
    with pytest.raises(UserError, match="not a valid key"):
        SecretBox(load_keys(tmp_path).keys)


def test_a_data_source_password_is_write_only_and_encrypted_at_rest(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    body = {"type": "postgres", "host": "127.0.0.1", "database": "test", "user": "app"}
    created = api.client.put(f"{SOURCES}/pg_main", json={**body, "password": SECRET}, headers=admin)
    assert created.status_code == 200, created.text
    assert SECRET not in created.text
    assert created.json()["secrets_set"] == {"password": True}
    listed = api.client.get(SOURCES, headers=admin)
    assert SECRET not in listed.text
    config = yaml.safe_load((api.home / "lakeworks.yml").read_text())["data_sources"]["pg_main"]
    assert config["password_encrypted"] == f"lwsecret:{WORKSPACE}/pg_main.password"
    assert SECRET not in (api.home / "lakeworks.yml").read_text()
    with api.services.db.read() as conn:
        stored = conn.execute(sa.select(stored_secrets.c.ciphertext)).scalar_one()
    assert SECRET not in stored
    # the connectors get the real password back through the installed decryptor
    api.services.secrets.install()
    resolved = credentials.resolve_password("pg_main", None, config["password_encrypted"])
    assert resolved is not None and resolved.get_secret_value() == SECRET
    # changing other settings keeps the stored password
    changed = api.client.put(f"{SOURCES}/pg_main", json={**body, "port": 5433}, headers=admin)
    assert changed.json()["secrets_set"] == {"password": True}
    assert api.services.secrets.get(WORKSPACE, "pg_main.password") == SECRET


def test_the_encrypted_form_cannot_be_set_through_the_api(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    response = api.client.put(
        f"{SOURCES}/pg_main",
        json={
            "type": "postgres",
            "host": "h",
            "database": "d",
            "user": "u",
            "password_encrypted": "lwsecret:x/y",
        },
        headers=admin,
    )
    assert response.status_code == 400
    assert "managed by the server" in response.json()["error"]["message"]


def test_secrets_are_redacted_from_errors_and_log_lines(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    body = {"type": "postgres", "host": "h", "database": "d", "user": "app", "password": SECRET}
    assert api.client.put(f"{SOURCES}/pg_main", json=body, headers=admin).status_code == 200
    assert redact(f"connect failed for app:{SECRET}@db") == "connect failed for app:***@db"
    assert SECRET not in redact(f"postgresql://app:{SECRET}@host/db")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", (SECRET,), None)
    assert SECRET not in RedactingFormatter(logging.Formatter()).format(record)
    # an error whose message carries the secret reaches the client redacted
    response = api.client.post(
        f"/api/workspaces/{WORKSPACE}/envs/dev/query",
        json={"sql": f"SELECT * FROM nowhere WHERE x = '{SECRET}'"},
        headers=admin,
    )
    assert response.status_code == 400
    assert SECRET not in response.text


def test_removing_a_data_source_removes_its_secret(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    body = {"type": "postgres", "host": "h", "database": "d", "user": "u", "password": SECRET}
    assert api.client.put(f"{SOURCES}/pg_main", json=body, headers=admin).status_code == 200
    assert api.client.delete(f"{SOURCES}/pg_main", headers=admin).status_code == 200
    assert api.services.secrets.names(WORKSPACE) == []
    assert "pg_main" not in (api.home / "lakeworks.yml").read_text()


def test_key_rotation_reencrypts_every_secret_and_retires_the_old_key(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_SECRET_KEY, raising=False)
    source = load_keys(tmp_path / "state")
    store = SecretStore(api.services.db, SecretBox(source.keys))
    store.put(WORKSPACE, "a", SECRET, actor="test")
    store.put(WORKSPACE, "b", "second-secret", actor="test")
    with api.services.db.read() as conn:
        before = set(conn.execute(sa.select(stored_secrets.c.ciphertext)).scalars())
    rotation = rotate_key(api.services.db, source)
    assert rotation.reencrypted == 2
    after_keys = load_keys(tmp_path / "state").keys
    assert after_keys == [rotation.new_key]
    with api.services.db.read() as conn:
        after = set(conn.execute(sa.select(stored_secrets.c.ciphertext)).scalars())
    assert before.isdisjoint(after)
    assert SecretStore(api.services.db, SecretBox(after_keys)).get(WORKSPACE, "a") == SECRET
    with pytest.raises(UserError, match="cannot be decrypted"):
        SecretStore(api.services.db, SecretBox(source.keys)).get(WORKSPACE, "a")
