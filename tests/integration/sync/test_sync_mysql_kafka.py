"""Sync from MariaDB and from a Kafka topic into the warehouse, and into MariaDB."""

from __future__ import annotations

import json
import uuid

import pymysql
import pytest

from tests.integration.connectors.test_kafka import produce
from tests.integration.sync.world import SyncWorld, unique
from tests.services import require_mysql


@pytest.mark.mysql
def test_mysql_to_warehouse_to_mysql(world: SyncWorld) -> None:
    host, port = require_mysql()
    table, back = unique("lw_my"), unique("lw_back")
    conn = pymysql.connect(host=host, port=port, user="root", database="test", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v varchar(10))")
            cur.executemany(
                f"INSERT INTO {table} VALUES (%s, %s)", [(i, f"v{i}") for i in range(500)]
            )
        world.add_source("my", {"type": "mysql", "database": "test"})
        world.node(
            "load",
            {
                "source": {"data_source": "my", "table": table, "split_key": "id", "parallel": 2},
                "target": {"table": "my_t", "mode": "overwrite"},
            },
        )
        world.node(
            "export",
            {
                "source": {"data_source": "warehouse", "table": "my_t", "where": "id < 10"},
                "target": {"data_source": "my", "table": back, "mode": "merge", "key": ["id"]},
            },
        )
        assert world.run("load").rows_written == 500
        assert world.run("export").rows_written == 10
        assert world.run("export").rows_written == 10
        with conn.cursor() as cur:
            cur.execute(f"SELECT count(*), min(v) FROM {back}")
            assert cur.fetchone() == (10, "v0")
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"DROP TABLE IF EXISTS {back}")
        conn.close()


@pytest.mark.kafka
def test_kafka_topic_in_two_runs_reads_each_message_once(
    world: SyncWorld, kafka_broker: str
) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"lw_{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": kafka_broker})
    for future in admin.create_topics([NewTopic(topic, num_partitions=2)]).values():
        future.result(timeout=10)
    produce(kafka_broker, topic, [json.dumps({"id": i}).encode() for i in range(6)])
    world.add_source("events", {"type": "kafka", "bootstrap_servers": kafka_broker})
    world.node(
        "ev", {"source": {"data_source": "events", "topic": topic}, "target": {"table": "ev_t"}}
    )
    assert world.run("ev").rows_written == 6
    produce(kafka_broker, topic, [json.dumps({"id": i}).encode() for i in range(6, 9)])
    second = world.run("ev")
    assert second.rows_written == 3
    assert second.cursor_after == {"0": 5, "1": 4}
    assert world.query("SELECT count(DISTINCT id) FROM ev_t") == [(9,)]
