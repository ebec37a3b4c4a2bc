"""Kafka topic source (confluent-kafka, imported lazily), read over a bounded range.

A read takes, for every partition, the range from the start position (the stored
cursor, else the earliest or latest offset) up to the end offset seen when the read
began, so a batch sync always finishes. Messages are JSON objects (one row each) or raw
(key, value, partition, offset, timestamp). The cursor is ``{partition: next offset}``,
stored by the sync service and advanced only when the write commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from lakeworks.connectors.base import (
    ConnectorConfig,
    ReadRequest,
    Reject,
    SourceBatch,
    SourceCapabilities,
)
from lakeworks.connectors.credentials import redact, resolve_password
from lakeworks.errors import TransientError, UserError

if TYPE_CHECKING:
    from lakeworks.connectors.probe import Probed
    from lakeworks.connectors.registry import ConnectorContext

POLL_SECONDS = 1.0
IDLE_POLLS = 30
"""Empty polls in a row after which a range that should have data counts as stalled."""


SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
SECRET_OPTIONS = {
    "sasl.password": "use sasl_password_env or sasl_password_encrypted",
    "sasl.oauthbearer.client.secret": "",
    "ssl.key.password": "",
    "ssl.keystore.password": "",
}
"""librdkafka settings that hold a secret, refused in ``options``."""
TYPED_OPTIONS = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_username",
}
"""librdkafka settings that have their own key; ``options`` may not repeat them."""


class Config(ConnectorConfig):
    """``type: kafka`` — brokers, SASL (the password named, never inline) and extra
    librdkafka settings in ``options``."""

    type: Literal["kafka"] = "kafka"
    bootstrap_servers: str
    group_id: str = "lakeworks-sync"
    timeout_seconds: float = Field(default=10.0, gt=0)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = None
    sasl_mechanism: (
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"] | None
    ) = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    sasl_password_encrypted: str | None = None
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _no_secrets_or_repeats(cls, options: dict[str, str]) -> dict[str, str]:
        for key in options:
            lowered = key.lower()
            if lowered in SECRET_OPTIONS:
                how = SECRET_OPTIONS[lowered]
                raise ValueError(
                    f"'{key}' is not allowed: passwords are never written in workspace files"
                    + (f"; {how}" if how else "")
                )
            if lowered in TYPED_OPTIONS:
                raise ValueError(f"'{key}' has its own key: write {TYPED_OPTIONS[lowered]}")
        return options

    @model_validator(mode="after")
    def _sasl_complete(self) -> Config:
        password = self.sasl_password_env or self.sasl_password_encrypted
        if not (self.sasl_username or password or self.sasl_mechanism):
            return self
        if self.security_protocol not in SASL_PROTOCOLS:
            raise ValueError("SASL settings need security_protocol SASL_SSL or SASL_PLAINTEXT")
        if self.sasl_mechanism is None:
            raise ValueError("SASL settings need sasl_mechanism (e.g. PLAIN or SCRAM-SHA-512)")
        if password and not self.sasl_username:
            raise ValueError("a SASL password needs sasl_username")
        return self


def client_settings(config: Config, password: SecretStr | None) -> dict[str, Any]:
    """The librdkafka consumer settings of a data source (``password``: its resolved SASL
    password). They hold the password: pass them to the client, never to a log."""
    settings: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "group.id": config.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        **config.options,
    }
    if config.security_protocol is not None:
        settings["security.protocol"] = config.security_protocol
    if config.sasl_mechanism is not None:
        settings["sasl.mechanisms"] = config.sasl_mechanism
    if config.sasl_username is not None:
        settings["sasl.username"] = config.sasl_username
    if password is not None:
        settings["sasl.password"] = password.get_secret_value()
    return settings


class KafkaSource:
    """Reads one topic from the stored (or earliest) offsets up to the current end."""

    capabilities = SourceCapabilities(offset_cursor=True)

    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config
        self._password = resolve_password(
            name, config.sasl_password_env, config.sasl_password_encrypted
        )

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        return Consumer(client_settings(self.config, self._password))

    def _ranges(
        self, consumer: Any, topic: str, request: ReadRequest
    ) -> dict[int, tuple[int, int]]:
        from confluent_kafka import KafkaException, TopicPartition

        timeout = self.config.timeout_seconds
        try:
            metadata = consumer.list_topics(topic, timeout=timeout)
        except KafkaException as exc:
            raise TransientError(f"Kafka '{self.name}': {redact(str(exc))}") from None
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise UserError(f"Kafka '{self.name}': topic '{topic}' does not exist")
        start_at = str(request.options.get("start", "earliest"))
        stored = {int(k): int(v) for k, v in dict(request.cursor_after or {}).items()}
        ranges: dict[int, tuple[int, int]] = {}
        for partition in sorted(info.partitions):
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout
                )
            except KafkaException as exc:
                raise TransientError(f"Kafka '{self.name}': {redact(str(exc))}") from None
            if partition in stored:
                start = max(stored[partition], low)
            else:
                start = high if start_at == "latest" else low
            ranges[partition] = (start, high)
        return ranges

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        from confluent_kafka import KafkaError, TopicPartition

        topic = request.table
        if not topic:
            raise UserError(f"Kafka '{self.name}': a read needs a topic")
        fmt = str(request.options.get("format", "json"))
        if fmt not in ("json", "raw"):
            raise UserError(f"Kafka message format must be json or raw, not '{fmt}'")
        consumer = self._consumer()
        try:
            ranges = self._ranges(consumer, topic, request)
            todo = {p: r for p, r in ranges.items() if r[0] < r[1]}
            if not todo:
                return
            consumer.assign([TopicPartition(topic, p, r[0]) for p, r in todo.items()])
            pending: dict[int, list[Any]] = {p: [] for p in todo}
            first: dict[int, int] = {p: r[0] for p, r in todo.items()}
            rejects: dict[int, list[Reject]] = {p: [] for p in todo}
            idle = 0
            while todo:
                messages = consumer.consume(num_messages=10000, timeout=POLL_SECONDS)
                if not messages:
                    idle += 1
                    if idle >= IDLE_POLLS:
                        raise TransientError(
                            f"Kafka '{self.name}': no messages from {topic} although "
                            "the range is not read yet"
                        )
                    continue
                idle = 0
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise TransientError(f"Kafka '{self.name}': {redact(str(error))}")
                    partition, offset = message.partition(), message.offset()
                    if partition not in todo or offset >= todo[partition][1]:
                        continue
                    self._collect(message, fmt, pending[partition], rejects[partition])
                    done = offset + 1 >= todo[partition][1]
                    if len(pending[partition]) >= request.batch_rows or done:
                        yield self._batch(
                            topic,
                            partition,
                            pending[partition],
                            fmt,
                            first[partition],
                            offset + 1,
                            rejects[partition],
                        )
                        first[partition] = offset + 1
                        pending[partition], rejects[partition] = [], []
                    if done:
                        del todo[partition]
        finally:
            consumer.close()

    @staticmethod
    def _collect(message: Any, fmt: str, rows: list[Any], rejects: list[Reject]) -> None:
        value = message.value()
        if fmt == "raw":
            key = message.key()
            rows.append(
                {
                    "key": key.decode("utf-8", "replace") if key is not None else None,
                    "value": value.decode("utf-8", "replace") if value is not None else None,
                    "partition": message.partition(),
                    "offset": message.offset(),
                    "timestamp": message.timestamp()[1],
                }
            )
            return
        position = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        try:
            row = json.loads(value) if value is not None else None
        except (ValueError, UnicodeDecodeError) as exc:
            text = value.decode("utf-8", "replace") if value else ""
            rejects.append(Reject(position, f"not JSON: {exc}", text[:1000]))
            return
        if not isinstance(row, dict):
            rejects.append(Reject(position, "message is not a JSON object", str(row)[:1000]))
            return
        rows.append(row)

    @staticmethod
    def _batch(
        topic: str,
        partition: int,
        rows: list[Any],
        fmt: str,
        first_offset: int,
        next_offset: int,
        rejects: list[Reject],
    ) -> SourceBatch:
        import pyarrow as pa

        if rows:
            batch = pa.RecordBatch.from_pylist(rows)
        else:
            batch = pa.RecordBatch.from_pylist([], schema=pa.schema([]))
        return SourceBatch(
            batch,
            f"{topic}[{partition}]",
            first_offset,
            cursor={str(partition): next_offset},
            rejects=list(rejects),
            unit="offset",
        )

    def estimate_rows(self, request: ReadRequest) -> int | None:
        if not request.table:
            return None
        consumer = self._consumer()
        try:
            ranges = self._ranges(consumer, request.table, request)
        finally:
            consumer.close()
        return sum(max(0, high - start) for start, high in ranges.values())

    def key_range(self, request: ReadRequest, column: str) -> tuple[Any, Any] | None:
        return None

    def close(self) -> None:
        pass


def open_source(name: str, config: Config, context: ConnectorContext) -> KafkaSource:
    """A Kafka topic source."""
    return KafkaSource(name, config)


def probe(name: str, config: Config, context: ConnectorContext, timeout: float) -> Probed:
    """Reach the brokers (signing in when SASL is set) and list the topics."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from lakeworks.connectors.probe import Probed, counted

    password = resolve_password(name, config.sasl_password_env, config.sasl_password_encrypted)
    settings = {
        k: v
        for k, v in client_settings(config, password).items()
        if k not in ("group.id", "enable.auto.commit", "auto.offset.reset", "enable.partition.eof")
    }
    errors: list[str] = []
    settings["error_cb"] = lambda err: errors.append(err.str())
    settings["log_level"] = 0  # failures are reported below, not on the terminal
    admin = AdminClient(settings)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        admin.poll(0)  # serves error_cb: why the brokers did not answer
        reasons = list(dict.fromkeys(errors)) or [exc.args[0].str() if exc.args else str(exc)]
        raise UserError(f"Kafka '{name}': {redact('; '.join(reasons))}") from None
    brokers = len(metadata.brokers)
    topics = sorted(t for t in metadata.topics if not t.startswith("__"))
    listed = counted(len(topics), "topic") + (
        f" ({', '.join(topics[:5])}…)" if len(topics) > 5 else ""
    )
    if 0 < len(topics) <= 5:
        listed = f"{counted(len(topics), 'topic')} ({', '.join(topics)})"
    return Probed(
        f"Kafka cluster {metadata.cluster_id or ''}".strip(),
        f"{counted(brokers, 'broker')}, {listed}",
    )
