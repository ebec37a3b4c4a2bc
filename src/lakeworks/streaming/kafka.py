"""Following Kafka topics for a stream node: assignment at stored positions, decoding.

Partitions are assigned explicitly (no consumer-group rebalancing): the position of
each ``topic[partition]`` is the one committed in the warehouse with the rows, else the
node's ``start`` (earliest, latest or the first offset at a timestamp).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import methodcaller
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakeworks.connectors.credentials import redact, resolve_password
from lakeworks.connectors.kafka import Config, client_settings
from lakeworks.errors import TransientError, UserError
from lakeworks.streaming.spec import StreamSource

if TYPE_CHECKING:  # Arrow is not needed to open a consumer (``stream run`` opens it first)
    from concurrent.futures import Future

    import pyarrow as pa

    from lakeworks.streaming.json_values import JsonSchemaValues

RECEIVE_MAX_BYTES = 512 << 20
OFFSET_BEGINNING = -2
OFFSET_END = -1
_ERROR, _PARTITION, _VALUE = methodcaller("error"), methodcaller("partition"), methodcaller("value")
"""Per-message reads done by ``map`` in C: a Python loop over a poll cost the polling
thread about a tenth of its time."""


@dataclass(slots=True)
class Message:
    """One decoded message. ``row`` is None for a tombstone (a null value) and for a
    message that could not be decoded (then ``reject`` says why)."""

    source: str
    offset: int
    timestamp_ms: int | None
    row: dict[str, Any] | None
    key: str | None
    payload: str
    reject: str | None = None
    value: bytes | None = None
    """A JSON value not decoded yet: the flush decodes all of them in one Arrow block."""
    meta: dict[str, Any] | None = None
    """Message metadata columns (``_kafka_offset``…) of a ``value`` still encoded."""
    table: str | None = None
    """The target table when a source feeds several (else the node's target)."""
    next_position: int | None = None
    """The source's position after this message (default: the next offset)."""

    def position_after(self) -> int:
        return self.offset + 1 if self.next_position is None else self.next_position

    @property
    def is_delete(self) -> bool:
        """A tombstone: no value at all (not a value that failed to decode)."""
        return self.row is None and self.value is None and self.reject is None

    def payload_text(self) -> str:
        """The message as text for the quarantine (at most 1000 characters)."""
        if self.payload or self.value is None:
            return self.payload
        return self.value[:4000].decode("utf-8", "replace")[:1000]


@dataclass(slots=True)
class MessageBlock:
    """Consecutive plain JSON messages of one poll, kept as the consumer gave them: the
    flush decodes their values in one Arrow block, and only when that fails (or rows
    replace each other by key) are they turned into one ``Message`` each."""

    values: list[bytes | None]
    """Each message's value (None: a tombstone), in arrival order."""
    ends: dict[str, int]
    """The position after each source's last message."""
    newest_ms: int | None
    """The newest timestamp of the sources' last messages."""
    raw: list[Any]
    """The consumer's messages, for ``messages()``."""
    decode: Callable[[Any], Message]
    rows: pa.RecordBatch | None = None
    """The values decoded already (``batch.decode_block``), else None."""
    decoding: Future[None] | None = None
    """The decoding of the values under way on another thread (``rows`` once done)."""

    def __len__(self) -> int:
        return len(self.values)

    def decoded(self) -> None:
        """Wait for the decoding under way, if any (raising what it raised)."""
        if self.decoding is not None:
            self.decoding.result()

    def messages(self) -> list[Message]:
        return [self.decode(m) for m in self.raw]


def source_name(topic: str, partition: int) -> str:
    return f"{topic}[{partition}]"


def _parse_source(name: str) -> tuple[str, int]:
    topic, _, rest = name.rpartition("[")
    return topic, int(rest.rstrip("]"))


class KafkaFollower:
    """A consumer assigned to every partition of the node's topics."""

    def __init__(
        self, name: str, config: Config, spec: StreamSource, root: Path | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.spec = spec
        self._avro: Any = load_avro_schema(spec, root) if spec.format == "avro" else {}
        self._json_schema: JsonSchemaValues | None = None
        if spec.format == "json_schema" and spec.json_schema is not None:
            from lakeworks.streaming.json_values import load_json_schema

            self._json_schema = load_json_schema(spec.json_schema, spec.json_schema_framing, root)
        self.value_types: dict[str, pa.DataType] = (
            self._json_schema.types if self._json_schema is not None else {}
        )
        """Column types the values' schema gives (json_schema)."""
        self._password = resolve_password(
            name, config.sasl_password_env, config.sasl_password_encrypted
        )
        self._consumer: Any = None
        self.sources: list[str] = []
        self._names: dict[tuple[str, int], str] = {}
        self.caught_up_at: datetime | None = None

    truncates = False
    """Kafka has no truncate: a flush need not look for one."""
    snapshot_pending = False
    """Kafka has no initial snapshot: a stream starts at its ``start``."""

    def snapshot(self, batch_rows: int) -> Iterator[tuple[Any, Iterator[pa.RecordBatch]]]:
        return iter(())

    def snapshot_done(self) -> int:
        return 0

    def key_of(self, target: str) -> list[str]:
        return []

    def committed(self, positions: dict[str, int]) -> None:
        """Nothing to tell the broker: positions live with the rows."""

    def _fail(self, exc: Exception) -> TransientError:
        return TransientError(f"Kafka '{self.name}': {redact(str(exc))}")

    def open(self, positions: dict[str, int]) -> None:
        """Connect and assign every partition at its stored (or starting) position."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        settings = client_settings(self.config, self._password)
        settings["enable.partition.eof"] = False
        # a broker may answer a fetch with more than fetch.max.bytes (noida-db does with
        # large backlogs); librdkafka would refuse the answer and retry for ever
        settings.setdefault("receive.message.max.bytes", RECEIVE_MAX_BYTES)
        self._consumer = Consumer(settings)
        timeout = self.config.timeout_seconds
        try:
            metadata = self._consumer.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise self._fail(exc) from None
        topics = self._topics(set(metadata.topics))
        assignment: list[Any] = []
        by_time: list[Any] = []
        stamp = self._start_ms()
        for topic in topics:
            info = metadata.topics[topic]
            for partition in sorted(info.partitions):
                name = source_name(topic, partition)
                self.sources.append(name)
                if name in positions:
                    assignment.append(TopicPartition(topic, partition, positions[name]))
                elif stamp is not None:
                    by_time.append(TopicPartition(topic, partition, stamp))
                else:
                    start = OFFSET_END if self.spec.start == "latest" else OFFSET_BEGINNING
                    assignment.append(TopicPartition(topic, partition, start))
        if by_time:
            try:
                found = self._consumer.offsets_for_times(by_time, timeout=timeout)
            except KafkaException as exc:
                raise self._fail(exc) from None
            assignment.extend(
                TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
                for tp in found
            )
        self._consumer.assign(assignment)

    def _topics(self, existing: set[str]) -> list[str]:
        if self.spec.pattern is not None:
            regex = re.compile(self.spec.pattern)
            return sorted(t for t in existing if regex.search(t) and not t.startswith("__"))
        missing = [t for t in self.spec.topics if t not in existing]
        if missing:
            raise UserError(
                f"Kafka '{self.name}': topic '{missing[0]}' does not exist",
                hint="create the topic first, or fix 'topics' in the stream file",
            )
        return list(self.spec.topics)

    def _start_ms(self) -> int | None:
        if self.spec.start in ("earliest", "latest"):
            return None
        moment = datetime.fromisoformat(self.spec.start)
        return int(moment.timestamp() * 1000)

    def poll(self, max_messages: int, timeout: float) -> list[Message] | MessageBlock:
        """Up to ``max_messages`` messages (fewer when ``timeout`` passes): plain JSON
        values as one block, other formats decoded one by one."""
        raw = self._consumer.consume(num_messages=max_messages, timeout=timeout)
        if not raw:
            return []
        if any(map(_ERROR, raw)):  # asked of every message without a Python loop
            self._check([m for m in raw if m.error() is not None])
            raw = [m for m in raw if m.error() is None]
        if self.spec.format == "json" and not self.spec.metadata:
            return self._block(raw)
        return [self._decode(message) for message in raw]

    def _check(self, failed: list[Any]) -> None:
        """Raise for errors the consumer cannot get over by itself."""
        from confluent_kafka import KafkaError

        for message in failed:
            error = message.error()
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            if error.fatal() or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TransientError(f"Kafka '{self.name}': {redact(str(error))}")
            # else: librdkafka reconnects by itself (broker down, transport)

    def _block(self, raw: list[Any]) -> MessageBlock:
        """Plain JSON messages kept as their values and each partition's last message:
        no Python work per message beyond reading its value."""
        last: dict[tuple[str, int], Any] = {}
        if len(self.spec.topics) == 1 and self.spec.pattern is None:
            # one topic: the partitions tell the sources apart, each one's last index
            # found by list scans in C (a poll often holds one partition only, and a
            # Python loop over it would ask every message)
            topic = self.spec.topics[0]
            backwards = list(map(_PARTITION, reversed(raw)))
            for partition in set(backwards):
                last[(topic, partition)] = raw[-1 - backwards.index(partition)]
        else:
            for m in reversed(raw):  # each source's last message: stop once all are found
                last.setdefault((m.topic(), m.partition()), m)
                if len(last) == len(self.sources):
                    break
        ends: dict[str, int] = {}
        newest: int | None = None
        for (topic, partition), message in last.items():
            ends[self._source(topic, partition)] = message.offset() + 1
            stamp_type, stamp = message.timestamp()
            if stamp_type and (newest is None or stamp > newest):
                newest = stamp
        return MessageBlock(list(map(_VALUE, raw)), ends, newest, raw, self._decode)

    def _source(self, topic: str, partition: int) -> str:
        found = self._names.get((topic, partition))
        if found is None:
            found = self._names[(topic, partition)] = source_name(topic, partition)
        return found

    def lag(self, positions: dict[str, int]) -> dict[str, Any]:
        """Messages on the broker past the given positions (None when unknown)."""
        return {"lag_messages": self._messages_behind(positions)}

    def _messages_behind(self, positions: dict[str, int]) -> int | None:
        """Also notes when nothing was behind: every message produced before the
        question was asked is then committed (``caught_up_at``)."""
        from confluent_kafka import KafkaException, TopicPartition

        asked = datetime.now(UTC).replace(tzinfo=None)
        total = 0
        for name in self.sources:
            topic, partition = _parse_source(name)
            try:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=1.0, cached=False
                )
            except KafkaException:
                return None
            total += max(0, high - max(positions.get(name, low), low))
        if total == 0:
            self.caught_up_at = asked
        return total

    def _decode(self, message: Any) -> Message:
        key_bytes, value = message.key(), message.value()
        key = key_bytes.decode("utf-8", "replace") if key_bytes is not None else None
        stamp_type, stamp = message.timestamp()
        timestamp = stamp if stamp_type != 0 else None
        source = self._source(message.topic(), message.partition())
        offset = message.offset()
        fmt = self.spec.format
        if fmt in ("json", "json_schema") and value is not None:
            if self._json_schema is not None:
                checked, reason = self._json_schema.check(value)
                if checked is None:
                    text = value[:4000].decode("utf-8", "replace")[:1000]
                    return Message(source, offset, timestamp, None, key, text, reject=reason)
                value = checked
            meta = None
            if self.spec.metadata:
                meta = {
                    f"_kafka_{field}": self._meta(message, field, key, timestamp)
                    for field in self.spec.metadata
                }
            return Message(source, offset, timestamp, None, key, "", value=value, meta=meta)
        text = value.decode("utf-8", "replace") if value is not None else ""
        base = Message(source, offset, timestamp, None, key, text[:1000])
        if value is None:
            return base
        row: dict[str, Any]
        if fmt == "avro":
            decoded, reason = self._avro_row(value)
            if decoded is None:
                base.reject = reason
                base.payload = value[:500].hex()
                return base
            row = decoded
        elif fmt == "raw":
            row = {"value": text}
        elif fmt == "csv":
            fields = next(csv.reader(io.StringIO(text)), [])
            names = self.spec.csv_columns
            if len(fields) != len(names):
                base.reject = f"CSV has {len(fields)} fields, expected {len(names)}"
                return base
            row = dict(zip(names, fields, strict=True))
        for field in self.spec.metadata:
            row[f"_kafka_{field}"] = self._meta(message, field, key, timestamp)
        base.row = row
        return base

    def _avro_row(self, value: bytes) -> tuple[dict[str, Any] | None, str]:
        """One Avro value as a row (nested records stay nested), or why not."""
        from fastavro import schemaless_reader

        data = value
        if self.spec.avro_framing == "confluent":
            if len(value) < 5 or value[0] != 0:
                return None, "not in the Confluent framing (magic byte 0, schema id)"
            data = value[5:]
        stream = io.BytesIO(data)
        try:
            record = schemaless_reader(stream, self._avro, None)
        except Exception as exc:  # fastavro raises whatever the bytes lead it to
            return None, f"not Avro of the schema: {type(exc).__name__}: {exc}"
        if stream.tell() != len(data):
            return None, f"not Avro of the schema: {len(data) - stream.tell()} bytes left over"
        if not isinstance(record, dict):
            return None, "the Avro schema is not a record"
        return record, ""

    @staticmethod
    def _meta(message: Any, field: str, key: str | None, timestamp: int | None) -> Any:
        if field == "key":
            return key
        if field == "partition":
            return message.partition()
        if field == "offset":
            return message.offset()
        if field == "topic":
            return message.topic()
        if field == "timestamp":
            if timestamp is None:
                return None
            return datetime.fromtimestamp(timestamp / 1000, UTC).replace(tzinfo=None)
        headers = message.headers() or []
        return json.dumps({k: (v.decode("utf-8", "replace") if v else None) for k, v in headers})

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def load_avro_schema(spec: StreamSource, root: Path | None) -> Any:
    """The parsed ``avro_schema`` file of a stream (errors name the file)."""
    from fastavro import parse_schema

    assert spec.avro_schema is not None
    path = Path(spec.avro_schema)
    if not path.is_absolute() and root is not None:
        path = root / path
    try:
        return parse_schema(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise UserError(
            f"avro_schema {spec.avro_schema}: {exc.strerror}",
            hint="give the path of an .avsc file, relative to the workspace",
        ) from None
    except ValueError as exc:  # JSON errors and fastavro's schema errors
        raise UserError(f"avro_schema {spec.avro_schema}: not an Avro schema: {exc}") from None


def open_follower(
    name: str, raw_config: dict[str, Any], spec: StreamSource, root: Path | None = None
) -> KafkaFollower:
    """The follower of a ``kafka`` data source (``raw_config``: its lakeworks.yml entry)."""
    if raw_config.get("type") != "kafka":
        raise UserError(
            f"data source '{name}' is not of type kafka",
            hint="stream nodes read Kafka data sources",
        )
    from pydantic import ValidationError

    try:
        config = Config.model_validate(raw_config)
    except ValidationError as exc:
        raise UserError(f"data source '{name}': {exc.errors()[0]['msg']}") from None
    return KafkaFollower(name, config, spec, root)
