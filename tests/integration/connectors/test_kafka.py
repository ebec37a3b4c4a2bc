"""Kafka topic source over a bounded offset range (noida-db broker)."""

from __future__ import annotations

import json
import uuid

import pytest

from lakeworks.connectors.base import ReadRequest
from lakeworks.connectors.registry import open_source
from lakeworks.errors import UserError

pytestmark = pytest.mark.kafka


def _topic(broker: str, messages: list[bytes], partitions: int = 2) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"lw_{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": broker})
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions)]).values():
        future.result(timeout=10)
    produce(broker, topic, messages)
    return topic


def produce(broker: str, topic: str, messages: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker})
    for i, message in enumerate(messages):
        producer.produce(topic, value=message, partition=i % 2)
    producer.flush(10)


def test_bounded_read_with_offsets_as_cursor(kafka_broker: str) -> None:
    messages = [json.dumps({"id": i, "v": f"x{i}"}).encode() for i in range(10)]
    messages[4] = b"not json"
    topic = _topic(kafka_broker, messages)
    source = open_source("k", {"type": "kafka", "bootstrap_servers": kafka_broker})
    assert source.capabilities.offset_cursor
    items = list(source.read(ReadRequest(table=topic)))
    ids = sorted(i for item in items for i in item.batch.column("id").to_pylist())
    assert ids == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    rejects = [r for item in items for r in item.rejects]
    assert len(rejects) == 1 and rejects[0].position == f"{topic}[0]@2"
    cursor: dict[str, int] = {}
    for item in items:
        cursor.update(item.cursor)
    assert cursor == {"0": 5, "1": 5}
    produce(kafka_broker, topic, [json.dumps({"id": 10, "v": "new"}).encode()])
    later = list(source.read(ReadRequest(table=topic, cursor_after=cursor)))
    assert [r for item in later for r in item.batch.column("id").to_pylist()] == [10]


def test_missing_topic_is_a_user_error(kafka_broker: str) -> None:
    source = open_source("k", {"type": "kafka", "bootstrap_servers": kafka_broker})
    with pytest.raises(UserError, match="does not exist"):
        list(source.read(ReadRequest(table="lw_no_such_topic_x")))
