"""Kafka stream values checked against a JSON Schema: typed columns, Confluent framing,
invalid values quarantined with partition/offset and what the schema expected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeworks.errors import UserError
from lakeworks.streaming.positions import load_positions, quarantined
from tests.integration.streaming.world import StreamWorld, new_topic, produce

pytestmark = pytest.mark.kafka

ORDER_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "amount": {"type": "number"},
        "placed": {"type": "string", "format": "date-time"},
        "note": {"type": ["string", "null"]},
    },
    "required": ["id", "amount"],
}


def _framed(value: dict[str, object]) -> bytes:
    return b"\0\0\0\0\x0b" + json.dumps(value).encode()  # magic byte, schema id 11


def _spec(topic: str, schema: str, **source: object) -> dict[str, object]:
    return {
        "source": {
            "data_source": "events",
            "topics": [topic],
            "format": "json_schema",
            "json_schema": schema,
            **source,
        },
        "target": {"table": "orders"},
        "flush": {"seconds": 0.2, "rows": 1000},
        "dirty": {"max_rows": 10},
    }


def test_values_are_validated_typed_and_bad_ones_quarantined(
    tmp_path: Path, kafka_broker: str
) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    values = [
        _framed({"id": i, "amount": i + 0.25, "placed": f"2026-12-0{i + 1}T10:00:00Z"})
        for i in range(6)
    ]
    values[1] = _framed({"id": 1, "amount": "12.50"})  # a string where a number is due
    values[3] = _framed({"amount": 3.0})  # no id
    values[4] = json.dumps({"id": 4, "amount": 4.0}).encode()  # not framed
    produce(kafka_broker, topic, [(None, v) for v in values], partitions=1)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "order.schema.json").write_text(json.dumps(ORDER_SCHEMA))
    spec = _spec(topic, "schemas/order.schema.json", json_schema_framing="confluent")
    world = StreamWorld(tmp_path, kafka_broker, spec)
    world.run_until(6)
    rows = world.query("SELECT id, amount, strftime(placed, '%d %H') FROM orders ORDER BY id")
    assert rows == [(0, 0.25, "01 10"), (2, 2.25, "03 10"), (5, 5.25, "06 10")]
    types = dict(
        world.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'orders'"
        )
    )
    assert types["id"] == "BIGINT" and types["amount"] == "DOUBLE"
    assert types["placed"] == "TIMESTAMP WITH TIME ZONE"
    bad = {(m.source, m.offset): m.reason for m in quarantined(world.engine, "wf.ev", 10)}
    assert set(bad) == {(f"{topic}[0]", 1), (f"{topic}[0]", 3), (f"{topic}[0]", 4)}
    assert "field 'amount' must be number" in bad[(f"{topic}[0]", 1)]
    assert "the value must contain ['id'] properties" in bad[(f"{topic}[0]", 3)]
    assert "Confluent framing" in bad[(f"{topic}[0]", 4)]
    assert load_positions(world.engine, "wf.ev") == {f"{topic}[0]": 6}


def test_unframed_values_and_a_column_absent_from_the_first_flush(
    tmp_path: Path, kafka_broker: str
) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    produce(kafka_broker, topic, [(None, json.dumps({"id": 1, "amount": 2}).encode())], 1)
    (tmp_path / "order.schema.json").write_text(json.dumps(ORDER_SCHEMA))
    world = StreamWorld(tmp_path, kafka_broker, _spec(topic, "order.schema.json"))
    world.run_until(1)
    later = {"id": 2, "amount": 3.5, "placed": "2026-12-01T10:00:00+02:00", "note": "x"}
    produce(kafka_broker, topic, [(None, json.dumps(later).encode())], 1)
    world.run_until(1)
    rows = world.query("SELECT id, amount, note, epoch(placed) FROM orders ORDER BY id")
    assert rows == [(1, 2.0, None, None), (2, 3.5, "x", 1796112000.0)]


def test_a_missing_or_invalid_schema_file_is_named(tmp_path: Path, kafka_broker: str) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    world = StreamWorld(tmp_path, kafka_broker, _spec(topic, "schemas/nowhere.json"))
    with pytest.raises(UserError, match=r"json_schema schemas/nowhere.json: No such file"):
        world.run_until(1)
    (tmp_path / "bad.json").write_text('{"type": "object", "properties": {"id": {"type": 5}}}')
    world.write(_spec(topic, "bad.json"))
    with pytest.raises(UserError, match=r"json_schema bad.json: not a valid JSON Schema"):
        world.run_until(1)
