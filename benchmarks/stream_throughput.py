"""Stream throughput and freshness: Kafka -> DuckDB beside a bare consumer's drain.

A noida-db broker is started for the run and a topic (2 partitions) filled with JSON
messages (id, timestamp, 3 numbers, 2 short strings). Measured in the same run:

- the limit: a bare confluent-kafka consumer draining the topic to nothing;
- the stream: ``lakeworks stream run`` (default settings, 1 s flush) taking the whole
  topic, timed from start until its committed positions reach the end (read from the
  metadata store, which the stream updates right after each commit);
- freshness: messages produced at a steady rate while the stream runs; a message is
  fresh when the stream's committed position passes it; p95 of (fresh - produced).

PostgreSQL CDC is not measured: CDC streams do not exist yet.

    python benchmarks/stream_throughput.py            # 1,000,000 messages
    python benchmarks/stream_throughput.py --quick    # 20,000 messages, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _broker(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    program = str(BIN / "noida-db") if (BIN / "noida-db").exists() else "noida-db"
    process = subprocess.Popen(
        [program, "start", "--only", "kafka", "--kafka-port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"127.0.0.1:{port}"
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the noida-db broker did not start")


def _topic(broker: str) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"lw_bench_stream_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker})
    for future in admin.create_topics([NewTopic(topic, num_partitions=2)]).values():
        future.result(timeout=10)
    return topic


def _message(i: int) -> bytes:
    return json.dumps(
        {
            "id": i,
            "ts": time.time(),
            "a": i * 2,
            "b": i * 0.5,
            "c": i % 97,
            "s1": "abc",
            "s2": f"k{i % 1000}",
        }
    ).encode()


def _fill(broker: str, topic: str, count: int) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker, "linger.ms": 20})
    for i in range(count):
        producer.produce(topic, value=_message(i), partition=i % 2)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush(60)


def _drain(broker: str, topic: str, count: int) -> float:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": broker, "group.id": "drain", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, -2) for p in (0, 1)])
    started, seen = time.perf_counter(), 0
    while seen < count:
        seen += sum(1 for m in consumer.consume(10000, 1.0) if m.error() is None)
    seconds = time.perf_counter() - started
    consumer.close()
    return seconds


def _workspace(root: Path, broker: str, topic: str) -> None:
    import yaml

    (root / "workflows" / "bench").mkdir(parents=True)
    config = {
        "name": "streambench",
        "data_sources": {"events": {"type": "kafka", "bootstrap_servers": broker}},
    }
    (root / "lakeworks.yml").write_text(yaml.safe_dump(config))
    spec = {"source": {"data_source": "events", "topics": [topic]}, "target": {"table": "events"}}
    (root / "workflows" / "bench" / "ev.stream.yml").write_text(yaml.safe_dump(spec))


class Committed:
    """The stream's committed message count, read from the metadata store."""

    def __init__(self, root: Path) -> None:
        from lakeworks.store.database import Database
        from lakeworks.streaming.status import StreamStatusStore

        self.root = root
        self.store: StreamStatusStore | None = None
        self._open = lambda: StreamStatusStore(
            Database.open(f"sqlite:///{root / '.lakeworks' / 'meta.db'}"), "streambench", "dev"
        )

    def count(self) -> int:
        if self.store is None:
            if not (self.root / ".lakeworks" / "meta.db").exists():
                return 0
            self.store = self._open()
        status = self.store.get("bench.ev")
        if status is None or not status.positions:
            return 0
        return int(sum(json.loads(status.positions).values()))


def _stream(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "lakeworks"), "stream", "run", "bench.ev", "-w", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 20_000 if args.quick else 1_000_000
    fresh_count = 200 if args.quick else 2_000
    work = Path(tempfile.mkdtemp(prefix="lw_bench_stream_"))
    broker_process, broker = _broker(work / "broker")
    stream = None
    try:
        topic = _topic(broker)
        _fill(broker, topic, count)
        drain_seconds = _drain(broker, topic, count)
        root = work / "ws"
        _workspace(root, broker, topic)
        committed = Committed(root)
        started = time.perf_counter()
        stream = _stream(root)
        while committed.count() < count:
            if stream.poll() is not None:
                raise RuntimeError("the stream process ended")
            time.sleep(0.05)
        stream_seconds = time.perf_counter() - started
        # freshness: a steady trickle while the stream runs
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": broker, "linger.ms": 0})
        produced: list[float] = []
        visible: list[float] = []
        for i in range(fresh_count):
            producer.produce(topic, value=_message(count + i), partition=i % 2)
            producer.poll(0)
            produced.append(time.perf_counter())
            time.sleep(0.005)
        producer.flush(30)
        while len(visible) < fresh_count:
            done = committed.count() - count
            now = time.perf_counter()
            visible.extend([now] * max(0, min(done, fresh_count) - len(visible)))
            time.sleep(0.02)
        # messages of both partitions are committed together: count order is arrival order
        lags = sorted(v - p for p, v in zip(produced, visible, strict=True))
        p95 = lags[int(0.95 * (len(lags) - 1))]
    finally:
        if stream is not None and stream.poll() is None:
            stream.send_signal(signal.SIGTERM)
            stream.wait(timeout=60)
        broker_process.terminate()
        broker_process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    drain_rate = count / drain_seconds
    stream_rate = count / stream_seconds
    print(f"{'step':<28}{'messages':>12}{'seconds':>10}{'msgs/s':>12}")
    print(f"{'bare consumer drain':<28}{count:>12,}{drain_seconds:>10.2f}{drain_rate:>12,.0f}")
    print(f"{'stream into DuckDB':<28}{count:>12,}{stream_seconds:>10.2f}{stream_rate:>12,.0f}")
    print(
        f"freshness over {fresh_count} messages at a 1 s flush: p95 {p95:.2f} s "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(f"RESULT kafka_stream_vs_drain {stream_rate / drain_rate:.3f} ratio (target >= 0.7)")
    print(f"RESULT stream_freshness_p95 {p95:.3f} s (target < 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
