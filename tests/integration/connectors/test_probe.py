"""Testing a data source's connection against the real servers: success with the
server's version, and each way it fails (wrong password, unknown user, closed port,
a server that never answers, a missing bucket or folder) with a hint."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeworks.connectors.probe import probe_data_source
from lakeworks.connectors.registry import ConnectorContext
from tests.integration.streaming.world import new_topic
from tests.services import free_port, require_mysql, require_postgres


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


def test_postgres_answers_with_its_version() -> None:
    require_postgres()
    result = probe_data_source("shop", {"type": "postgres", "database": "test"}, timeout=5)
    assert result.ok, result.render()
    assert result.server is not None and result.server.startswith("PostgreSQL ")
    assert " in schema public" in (result.detail or "")
    assert "connected in" in result.render()


def test_postgres_unknown_user_and_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    who = probe_data_source(
        "shop", {"type": "postgres", "database": "test", "user": "nobody_here"}, timeout=5
    )
    assert not who.ok
    assert 'role "nobody_here" does not exist' in (who.error or "")
    assert who.hint is not None and "user" in who.hint
    closed = probe_data_source(
        "shop", {"type": "postgres", "database": "test", "port": free_port()}, timeout=5
    )
    assert not closed.ok
    assert "refused" in (closed.error or "").lower()
    assert closed.hint is not None and "nothing answers" in closed.hint


def test_a_server_that_never_answers_is_reported_after_the_timeout(silent_server: int) -> None:
    result = probe_data_source(
        "shop", {"type": "postgres", "database": "test", "port": silent_server}, timeout=1
    )
    assert not result.ok
    assert "timeout" in (result.error or "").lower()
    assert result.hint is not None and "no answer in time" in result.hint
    assert result.seconds < 30


def test_mariadb_answers_and_refuses_a_wrong_password(monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = require_mysql()
    config: dict[str, Any] = {"type": "mariadb", "host": host, "port": port, "database": "test"}
    good = probe_data_source("crm", config, timeout=5)
    assert good.ok, good.render()
    assert good.server is not None and "MariaDB" in good.server
    monkeypatch.setenv("LW_PROBE_WRONG", "not-the-password-9")
    bad = probe_data_source("crm", {**config, "password_env": "LW_PROBE_WRONG"}, timeout=5)
    assert not bad.ok
    assert "Access denied" in (bad.error or "")
    assert "not-the-password-9" not in bad.render()
    assert bad.hint is not None and "password" in bad.hint
    closed = probe_data_source("crm", {**config, "port": free_port()}, timeout=5)
    assert not closed.ok and closed.hint is not None and "nothing answers" in closed.hint


def test_files_list_a_folder_or_say_it_is_missing(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing/a.csv").write_text("x\n1\n")
    context = ConnectorContext(root=tmp_path)
    found = probe_data_source("drop", {"type": "files", "root": "landing"}, context)
    assert found.ok and found.detail == f"1 file and 0 folders in {tmp_path / 'landing'}"
    missing = probe_data_source("drop", {"type": "files", "root": "nowhere"}, context)
    assert not missing.ok and "no folder" in (missing.error or "")
    assert missing.hint is not None and "does not exist" in missing.hint


@pytest.mark.s3
def test_s3_lists_the_bucket_or_names_the_missing_one(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("LW_S3_KEY", "testing")
    monkeypatch.setenv("LW_S3_SECRET", "testing")
    bucket = f"lw-{uuid.uuid4().hex[:10]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="landing/one.csv", Body=b"a\n1\n")
    s3 = {
        "endpoint_url": s3_endpoint,
        "access_key_env": "LW_S3_KEY",
        "secret_key_env": "LW_S3_SECRET",
    }
    ok = probe_data_source("lake", {"type": "files", "root": f"s3://{bucket}/landing", "s3": s3})
    assert ok.ok, ok.render()
    assert ok.detail == f"1 file and 0 folders in s3://{bucket}/landing"
    gone = probe_data_source("lake", {"type": "files", "root": "s3://no-such-bucket-lw", "s3": s3})
    assert not gone.ok and "no bucket 'no-such-bucket-lw'" in (gone.error or "")


@pytest.mark.kafka
def test_kafka_lists_topics_or_says_nothing_answers(kafka_broker: str) -> None:
    from confluent_kafka.admin import AdminClient

    made = new_topic(kafka_broker)  # the session's broker may hold other tests' topics too
    listed = AdminClient({"bootstrap.servers": kafka_broker}).list_topics(timeout=10).topics
    topics = [t for t in listed if not t.startswith("__")]
    ok = probe_data_source("events", {"type": "kafka", "bootstrap_servers": kafka_broker})
    assert ok.ok, ok.render()
    assert ok.detail is not None and ok.detail.startswith(f"1 broker, {len(topics)} topic")
    assert made in ok.detail or len(topics) > 5
    closed = probe_data_source(
        "events", {"type": "kafka", "bootstrap_servers": f"127.0.0.1:{free_port()}"}, timeout=2
    )
    assert not closed.ok and "refused" in (closed.error or "").lower()
    assert closed.hint is not None and "nothing answers" in closed.hint
