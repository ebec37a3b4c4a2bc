"""Kafka stream nodes into the warehouse: rows and positions in one transaction,
upserts and deletes by key, quarantine, and the dirty limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakeworks.errors import UserError
from lakeworks.streaming.positions import load_positions, quarantined
from lakeworks.streaming.status import StreamStatusStore
from tests.integration.streaming.world import StreamWorld, new_topic, produce

pytestmark = pytest.mark.kafka
LAKEWORKS = str(Path(sys.executable).parent / "lakeworks")


def _spec(topic: str, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "source": {"data_source": "events", "topics": [topic], "metadata": ["offset"]},
        "target": {"table": "ev_t"},
        "flush": {"seconds": 0.2, "rows": 1000},
    }
    spec.update(extra)
    return spec


def test_append_resumes_from_the_committed_position(tmp_path: Path, kafka_broker: str) -> None:
    topic = new_topic(kafka_broker)
    produce(kafka_broker, topic, [(None, json.dumps({"id": i}).encode()) for i in range(500)])
    world = StreamWorld(tmp_path, kafka_broker, _spec(topic))
    assert world.run_until(500).rows_out == 500
    produce(kafka_broker, topic, [(None, json.dumps({"id": i}).encode()) for i in range(500, 800)])
    assert world.run_until(300).rows_out == 300
    assert world.query("SELECT count(*), count(DISTINCT id), sum(id) FROM ev_t") == [
        (800, 800, sum(range(800)))
    ]
    assert load_positions(world.engine, "wf.ev") == {f"{topic}[0]": 400, f"{topic}[1]": 400}
    status = StreamStatusStore(world.db, "streamws", "dev").get("wf.ev")
    assert status is not None and status.state == "stopped" and status.rows_out == 300
    assert status.lag_messages == 0


def test_upsert_keeps_the_latest_message_per_key_and_deletes_tombstones(
    tmp_path: Path, kafka_broker: str
) -> None:
    topic = new_topic(kafka_broker)
    messages: list[tuple[bytes | None, bytes | None]] = []
    for version in range(3):
        for i in range(20):
            messages.append((str(i).encode(), json.dumps({"id": i, "v": version}).encode()))
    messages += [(str(i).encode(), None) for i in range(5)]  # deletes
    produce(kafka_broker, topic, messages)
    world = StreamWorld(
        tmp_path,
        kafka_broker,
        _spec(topic, target={"table": "ev_t", "mode": "upsert", "key": ["id"]}),
    )
    world.run_until(len(messages))
    assert world.query("SELECT count(*), min(id), max(v), min(v) FROM ev_t") == [(15, 5, 2, 2)]


def test_poison_message_is_quarantined_with_its_offset(tmp_path: Path, kafka_broker: str) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    values = [json.dumps({"id": i}).encode() for i in range(10)]
    values[3] = b"{not json"
    values[7] = json.dumps({"id": "seven"}).encode()
    produce(kafka_broker, topic, [(None, v) for v in values], partitions=1)
    spec = _spec(
        topic,
        columns=[{"source": "id", "type": "bigint"}],
        dirty={"max_rows": 5},
    )
    world = StreamWorld(tmp_path, kafka_broker, spec)
    world.run_until(10)
    assert world.query("SELECT count(*) FROM ev_t") == [(8,)]
    bad = {(m.source, m.offset): m.reason for m in quarantined(world.engine, "wf.ev", 10)}
    assert set(bad) == {(f"{topic}[0]", 3), (f"{topic}[0]", 7)}
    assert "not JSON" in bad[(f"{topic}[0]", 3)]


def test_plain_json_flushes_in_blocks_and_still_sets_bad_messages_aside(
    tmp_path: Path, kafka_broker: str
) -> None:
    """Without metadata columns JSON values are decoded a flush at a time; a poison
    message (and a tombstone, which an append stream skips) sends that flush down the
    message-by-message path."""
    topic = new_topic(kafka_broker)
    messages: list[tuple[bytes | None, bytes | None]] = [
        (None, json.dumps({"id": i, "name": f"n{i}"}).encode()) for i in range(3000)
    ]
    messages[1234] = (None, b'{"id": 1234, "name": ')  # cut short
    messages[2001] = (None, None)
    produce(kafka_broker, topic, messages)
    spec = _spec(topic, dirty={"max_rows": 1})
    spec["source"] = {"data_source": "events", "topics": [topic]}
    world = StreamWorld(tmp_path, kafka_broker, spec)
    totals = world.run_until(3000)
    assert (totals.rows_in, totals.rows_out, totals.rows_dirty) == (3000, 2998, 1)
    expected = sum(range(3000)) - 1234 - 2001
    assert world.query("SELECT count(*), count(DISTINCT id), sum(id) FROM ev_t") == [
        (2998, 2998, expected)
    ]
    assert load_positions(world.engine, "wf.ev") == {f"{topic}[0]": 1500, f"{topic}[1]": 1500}
    [bad] = quarantined(world.engine, "wf.ev", 10)
    assert (bad.source, bad.offset, bad.reason[:8]) == (f"{topic}[0]", 617, "not JSON")


def test_over_the_dirty_limit_the_stream_stops_and_keeps_its_position(
    tmp_path: Path, kafka_broker: str
) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    produce(kafka_broker, topic, [(None, json.dumps({"id": i}).encode()) for i in range(5)], 1)
    world = StreamWorld(tmp_path, kafka_broker, _spec(topic))
    world.run_until(5)
    produce(kafka_broker, topic, [(None, b"garbage"), (None, json.dumps({"id": 5}).encode())], 1)
    with pytest.raises(UserError, match=r"exceed dirty.max_rows 0 .*@5.*not moved"):
        world.run_until(2)
    assert load_positions(world.engine, "wf.ev") == {f"{topic}[0]": 5}
    assert world.query("SELECT count(*) FROM ev_t") == [(5,)]
    status = StreamStatusStore(world.db, "streamws", "dev").get("wf.ev")
    assert status is not None and status.state == "failed"
    assert status.last_error is not None and "max_rows" in status.last_error


ORDER_SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


def test_avro_values_in_confluent_framing(tmp_path: Path, kafka_broker: str) -> None:
    import io

    from fastavro import parse_schema, schemaless_writer

    parsed = parse_schema(ORDER_SCHEMA)

    def encode(record: dict[str, object]) -> bytes:
        out = io.BytesIO()
        out.write(b"\0\0\0\0\x07")  # magic byte, schema id 7
        schemaless_writer(out, parsed, record)
        return out.getvalue()

    topic = new_topic(kafka_broker, partitions=1)
    values = [
        encode({"id": i, "amount": i * 1.5, "note": None if i % 2 else f"n{i}"}) for i in range(6)
    ]
    values[4] = b"\0\0\0\0\x07\xff"  # truncated: not a record of the schema
    produce(kafka_broker, topic, [(None, v) for v in values], partitions=1)
    (tmp_path / "order.avsc").write_text(json.dumps(ORDER_SCHEMA))
    spec = _spec(topic, dirty={"max_rows": 1})
    spec["source"] = {
        "data_source": "events",
        "topics": [topic],
        "format": "avro",
        "avro_schema": "order.avsc",
        "avro_framing": "confluent",
    }
    world = StreamWorld(tmp_path, kafka_broker, spec)
    world.run_until(6)
    assert world.query("SELECT id, amount, note FROM ev_t ORDER BY id") == [
        (0, 0.0, "n0"),
        (1, 1.5, None),
        (2, 3.0, "n2"),
        (3, 4.5, None),
        (5, 7.5, None),
    ]
    types = dict(
        world.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'ev_t'"
        )
    )
    assert types["id"] == "BIGINT" and types["amount"] == "DOUBLE"
    [bad] = quarantined(world.engine, "wf.ev", 10)
    assert (bad.offset, bad.reason.startswith("not Avro of the schema")) == (4, True)


def test_a_missing_avro_schema_file_is_named(tmp_path: Path, kafka_broker: str) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    spec = _spec(topic)
    spec["source"] = {
        "data_source": "events",
        "topics": [topic],
        "format": "avro",
        "avro_schema": "schemas/nowhere.avsc",
    }
    world = StreamWorld(tmp_path, kafka_broker, spec)
    with pytest.raises(UserError, match=r"avro_schema schemas/nowhere.avsc: No such file"):
        world.run_until(1)


def test_stream_run_on_a_missing_topic_fails_and_says_why(
    tmp_path: Path, kafka_broker: str
) -> None:
    """``stream run`` opens the source before the runner starts; a source that cannot be
    opened still ends as the runner ends it: failed, with the reason in the status."""
    world = StreamWorld(tmp_path, kafka_broker, _spec("lw19_no_such_topic"))
    done = subprocess.run(
        [LAKEWORKS, "stream", "run", "wf.ev", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "topic 'lw19_no_such_topic' does not exist" in done.stderr
    status = StreamStatusStore(world.db, "streamws", "dev").get("wf.ev")
    assert status is not None and status.state == "failed"
    assert "lw19_no_such_topic" in (status.last_error or "")
