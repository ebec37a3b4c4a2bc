"""Stream throughput and freshness: Kafka -> DuckDB beside a bare consumer's drain.

A noida-db broker is started for the run and a topic (2 partitions) filled with JSON
messages (id, timestamp, 3 numbers, 2 short strings). Measured in the same run:

- the limit: a bare confluent-kafka consumer draining the topic to nothing;
- the stream: ``lakeworks stream run`` (default settings, 1 s flush) taking the whole
  topic, timed from start until its committed positions reach the end (read from the
  metadata store, which the stream updates right after each commit);
- freshness: messages produced at a steady rate while the stream runs; a message is
  fresh when the stream's committed position passes it; p95 of (fresh - produced).

- PostgreSQL CDC: a burst of committed changes (4 of 5 inserts, 1 of 5 updates, 1,000
  rows a transaction) applied by ``lakeworks stream run`` of a ``postgres_cdc`` node
  (started after the changes, timed until its committed position passes them), beside
  ``pg_recvlogical`` (pgoutput) draining the same changes from a slot of its own.

    python benchmarks/stream_throughput.py            # 1,000,000 messages
    python benchmarks/stream_throughput.py --quick    # 20,000 messages, a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
RECEIVE_MAX_BYTES = 512 << 20
sys.path.insert(0, str(Path(__file__).parent))


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
        start_new_session=True,  # the launcher's broker is stopped with it (_stop_broker)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"127.0.0.1:{port}"
        time.sleep(0.1)
    _stop_broker(process)
    raise RuntimeError("the noida-db broker did not start")


def _stop_broker(process: subprocess.Popen[bytes]) -> None:
    """Stop the launcher and its broker (the whole session it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


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
        {
            "bootstrap.servers": broker,
            "group.id": "drain",
            "enable.auto.commit": False,
            # as the stream's consumer: noida-db may answer beyond fetch.max.bytes
            "receive.message.max.bytes": RECEIVE_MAX_BYTES,
        }
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


def _stream(root: Path, node: str = "bench.ev") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "lakeworks"), "stream", "run", node, "-w", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def _wait(check: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 1800
    while not check():
        if process.poll() is not None:
            raise RuntimeError(f"the stream process ended before {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _cdc(work: Path, count: int) -> tuple[float, float, float]:
    """(seconds of pg_recvlogical's drain, seconds of the CDC stream, seconds until
    its first flush of changes committed) for ``count`` committed changes, the stream
    started after they were made."""
    from cdc_bench import CdcBench, position

    bench = CdcBench()
    stream = None
    try:
        root = work / "cdc_ws"
        bench.workspace(root)
        committed = position(root, bench.name)
        stream = _stream(root, "bench.cdc")  # creates the slot, copies the (empty) table
        _wait(lambda: committed() > 0, stream, "the snapshot")
        _stop(stream)
        bench.drain_slot_create()
        end = bench.changes(count)
        drain_seconds = bench.drain(end)
        snapshot = committed()
        started = time.perf_counter()
        stream = _stream(root, "bench.cdc")
        _wait(lambda: committed() > snapshot, stream, "the first flush")
        first = time.perf_counter() - started
        _wait(lambda: committed() >= end, stream, "the changes")
        return drain_seconds, time.perf_counter() - started, first
    finally:
        _stop(stream)
        bench.close()


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

        def sample() -> None:  # while producing: when each message became committed
            deadline = time.monotonic() + 300
            while len(visible) < fresh_count and time.monotonic() < deadline:
                done = committed.count() - count
                now = time.perf_counter()
                visible.extend([now] * max(0, min(done, fresh_count) - len(visible)))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        for i in range(fresh_count):
            producer.produce(topic, value=_message(count + i), partition=i % 2)
            producer.poll(0)
            produced.append(time.perf_counter())
            time.sleep(0.005)
        producer.flush(30)
        sampler.join()
        if len(visible) < fresh_count:
            raise RuntimeError("the stream did not commit the freshness messages")
        # messages of both partitions are committed together: count order is arrival order
        lags = sorted(v - p for p, v in zip(produced, visible, strict=True))
        p95 = lags[int(0.95 * (len(lags) - 1))]
        _stop(stream)
        stream = None
        cdc_count = 20_000 if args.quick else 500_000
        cdc_drain_seconds, cdc_seconds, cdc_first = _cdc(work, cdc_count)
    finally:
        _stop(stream)
        _stop_broker(broker_process)
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
    cdc_drain_rate = cdc_count / cdc_drain_seconds
    cdc_rate = cdc_count / cdc_seconds
    print(
        f"{'pg_recvlogical drain':<28}{cdc_count:>12,}{cdc_drain_seconds:>10.2f}"
        f"{cdc_drain_rate:>12,.0f}"
    )
    print(f"{'CDC stream into DuckDB':<28}{cdc_count:>12,}{cdc_seconds:>10.2f}{cdc_rate:>12,.0f}")
    print(
        f"  its first flush committed {cdc_first:.2f} s after the process started "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    print(f"RESULT kafka_stream_vs_drain {stream_rate / drain_rate:.3f} ratio (target >= 0.7)")
    print(f"RESULT cdc_vs_drain {cdc_rate / cdc_drain_rate:.3f} ratio (target >= 0.7)")
    print(f"RESULT stream_freshness_p95 {p95:.3f} s (target < 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
