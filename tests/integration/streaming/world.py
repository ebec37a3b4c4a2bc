"""A throwaway workspace with one stream node over a fresh Kafka topic."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import yaml

from lakeworks.engines.duckdb_engine import DuckDBEngine
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database
from lakeworks.streaming.runner import StreamRunner, StreamTotals


def new_topic(broker: str, partitions: int = 2) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"lw19_{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": broker})
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions)]).values():
        future.result(timeout=10)
    return topic


def produce(
    broker: str,
    topic: str,
    messages: list[tuple[bytes | None, bytes | None]],
    partitions: int = 2,
) -> None:
    """Send (key, value) pairs; the partition follows the key (or alternates)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker, "linger.ms": 5})
    for i, (key, value) in enumerate(messages):
        if key is None:
            producer.produce(topic, value=value, partition=i % partitions)
        else:
            producer.produce(topic, key=key, value=value)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(30)


class StreamWorld:
    """Writes the workspace and runs its stream node in this process."""

    def __init__(
        self,
        root: Path,
        broker: str,
        spec: dict[str, Any],
        sources: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        (root / "workflows" / "wf").mkdir(parents=True, exist_ok=True)
        config = {
            "name": "streamws",
            "data_sources": sources or {"events": {"type": "kafka", "bootstrap_servers": broker}},
        }
        (root / "lakeworks.yml").write_text(yaml.safe_dump(config))
        self.write(spec)
        self.engine = DuckDBEngine(root / ".lakeworks" / "warehouse.duckdb", "dev")
        (root / ".lakeworks").mkdir(exist_ok=True)
        self.db = Database.open(f"sqlite:///{root / '.lakeworks' / 'meta.db'}")
        self.log: list[str] = []

    def write(self, spec: dict[str, Any]) -> None:
        text = yaml.safe_dump(spec, sort_keys=False)
        (self.root / "workflows" / "wf" / "ev.stream.yml").write_text(text)

    def runner(self, cancel: threading.Event) -> StreamRunner:
        workspace = load_workspace(self.root)
        node = workspace.find_node("wf.ev")
        assert node is not None
        return StreamRunner(
            workspace, "dev", self.engine, node, self.db, log=self.log.append, cancel=cancel
        )

    def run_until(self, rows_in: int) -> StreamTotals:
        """Run the stream until it has taken ``rows_in`` messages (then stop it)."""
        cancel = threading.Event()
        runner = self.runner(cancel)
        original = runner._report

        def report(**values: object) -> None:
            original(**values)
            if runner.totals.rows_in >= rows_in:
                cancel.set()

        runner._report = report  # type: ignore[method-assign]
        return runner.run()

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        session = self.engine.session()
        try:
            return session.execute(sql).rows
        finally:
            session.close()
