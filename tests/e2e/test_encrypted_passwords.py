"""``password_encrypted`` outside the server: ``lakeworks sync run`` and ``lakeworks run``
decrypt with the workspace's key (key file or ``LAKEWORKS_SECRET_KEY``), and say so
clearly when there is none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.services import require_postgres

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
NO_KEY = "data source 'shop_pg' has an encrypted password but no key is loaded"


def lw(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "LAKEWORKS_SECRET_KEY"}
    environ.update(env or {})
    return subprocess.run(
        [LAKEWORKS, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environ,
    )


@pytest.fixture
def table() -> Iterator[str]:
    require_postgres()
    name = f"enc_orders_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (id int, amount numeric(8,2))")  # type: ignore[arg-type]
        conn.execute(f"INSERT INTO {name} VALUES (1, 1.5), (2, 2.5), (3, 3.5)")  # type: ignore[arg-type]
    yield name
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")  # type: ignore[arg-type]


def _workspace(root: Path, table: str) -> Path:
    root.mkdir()
    (root / "lakeworks.yml").write_text("name: enc\n")
    encrypted = lw("secrets", "encrypt", "-w", str(root), stdin="any-password\n")
    assert encrypted.returncode == 0, encrypted.stderr
    token = encrypted.stdout.strip()
    assert token and "any-password" not in token
    source = {
        "type": "postgres",
        "host": "127.0.0.1",
        "database": "test",
        "user": "postgres",
        "password_encrypted": token,
    }
    (root / "lakeworks.yml").write_text(
        yaml.safe_dump({"name": "enc", "data_sources": {"shop_pg": source}})
    )
    flow = root / "workflows" / "ingest"
    flow.mkdir(parents=True)
    (flow / "ods_orders.sync.yml").write_text(
        f"source: {{data_source: shop_pg, table: {table}}}\n"
        "target: {table: ods_orders, mode: overwrite}\n"
    )
    return root


def _run_json(root: Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    done = lw("run", "-w", str(root), "--bizdate", "20240105", "--format", "json", "-q", env=env)
    instances = json.loads(done.stdout)["instances"]
    assert len(instances) == 1, done.stdout
    return done.returncode, instances[0]


def test_sync_run_and_run_decrypt_with_the_workspace_key(tmp_path: Path, table: str) -> None:
    root = _workspace(tmp_path / "ws", table)
    key_file = root / ".lakeworks" / "secret.key"
    assert key_file.is_file()

    synced = lw("sync", "run", "ods_orders", "-w", str(root), "--bizdate", "20240105")
    assert synced.returncode == 0, synced.stderr
    assert "ingest.ods_orders: 3 rows written, 0 dirty" in synced.stdout

    code, instance = _run_json(root)
    assert code == 0 and instance["state"] == "success", instance

    # Without the key: the clear error, from both commands, and no key is made.
    key = key_file.read_text()
    key_file.unlink()
    refused = lw("sync", "run", "ods_orders", "-w", str(root), "--bizdate", "20240105")
    assert refused.returncode == 2
    assert NO_KEY in refused.stderr
    code, instance = _run_json(root)
    assert code == 1 and instance["state"] == "failed"
    assert NO_KEY in str(instance["reason"])
    assert not key_file.exists()

    # The key in the environment works as well as the key file.
    env = {"LAKEWORKS_SECRET_KEY": key.strip()}
    from_env = lw("sync", "run", "ods_orders", "-w", str(root), "--bizdate", "20240105", env=env)
    assert from_env.returncode == 0, from_env.stderr
    code, instance = _run_json(root, env)
    assert code == 0 and instance["state"] == "success", instance
    assert not key_file.exists()
