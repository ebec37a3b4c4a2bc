"""Following a PostgreSQL database's changes for a stream node (logical replication).

Lakeworks creates and names a publication of the selected tables and a logical
replication slot (``pgoutput``) for the node. On the first start the slot is created
with an exported snapshot: every table is copied as of that snapshot (binary COPY, as
batch sync reads PostgreSQL), and the changes committed after it follow on the
streaming replication protocol (psycopg2's replication connection, as ``pg_recvlogical``
reads them): the server decodes while the stream applies. The slot's flushed position is
confirmed to the server only after the target committed the rows together with the
position, so the server keeps whatever is not yet safely written. Each table's changes
of a poll are decoded at once into Arrow columns (see ``pgoutput``).

Positions are LSNs: the end of the last applied transaction, stored as the source
``pg:<slot>`` with the rows. The stream restarts there, and a transaction ending at or
before it is skipped, so a crash between the target's commit and the confirmation
repeats nothing. A lost connection (a restarted server) is a transient error: the
supervisor reconnects with backoff and the stream resumes from the stored position.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import re
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakeworks.connectors.base import ReadRequest, quote_ident
from lakeworks.connectors.pg_connection import Config, PgConnection
from lakeworks.errors import LakeworksError, TransientError, UserError
from lakeworks.streaming.changes import ChangeBlock
from lakeworks.streaming.kafka import Message
from lakeworks.streaming.pgoutput import (
    ProtocolError,
    RelationChanges,
    decode,
    lsn_text,
    parse_lsn,
)
from lakeworks.streaming.replication import ReplicationReader
from lakeworks.streaming.spec import CdcSource, StreamTarget

if TYPE_CHECKING:
    import psycopg

    from lakeworks.connectors.postgres import PostgresSource

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
IDLE_CONFIRM_SECONDS = 5.0
CLOCK_SECONDS = 0.5
"""How often an idle stream asks the server's clock (to know when it was caught up)."""
RELEASE_SECONDS = 5.0
SLOT_WAIT_NOTICE_SECONDS = 5.0


@dataclass(frozen=True)
class CapturedTable:
    """A source table of the stream and where its rows go."""

    qualified: str
    """``schema.table`` in the source."""
    target: str
    key: list[str]


def slot_name(workspace: str, env: str, node_key: str) -> str:
    """The default slot (and publication) name of a stream node: ``lakeworks_…``,
    lower-case, at most 63 characters (a digest keeps long names apart)."""
    base = re.sub(r"[^a-z0-9_]", "_", f"lakeworks_{workspace}_{env}_{node_key}".lower())
    if len(base) <= 63:
        return base
    digest = hashlib.sha1(base.encode()).hexdigest()[:8]
    return f"{base[:54]}_{digest}"


class CdcFollower:
    """The slot, the publication and the snapshot of one CDC stream node."""

    def __init__(
        self,
        name: str,
        config: Config,
        spec: CdcSource,
        target: StreamTarget,
        slot: str,
        *,
        cancel: threading.Event | None = None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.cancel = cancel
        self.log = log
        self.name = name
        self.spec = spec
        self.target = target
        self.slot = spec.slot or slot
        self.source = f"pg:{self.slot}"
        self.sources = [self.source]
        self.tables: dict[str, CapturedTable] = {}
        self._pg = PgConnection(name, config)
        self._conn: psycopg.Connection[Any] | None = None
        self._replication: psycopg.Connection[Any] | None = None
        self.snapshot_name: str | None = None
        self.snapshot_lsn: int | None = None
        self._reader: ReplicationReader | None = None
        self._read_upto = 0
        """The end of the last transaction read (or held by the target, at the start)."""
        self._confirmed = 0
        """The position last confirmed to the server."""
        self._unflushed = False
        self._idle_confirmed = 0.0
        self._clock: tuple[datetime, int] | None = None
        """The server's time and WAL position asked while idle, until the stream passes it."""
        self._clock_asked = 0.0
        self.caught_up_at: datetime | None = None

    # -- setting up

    def _sql(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        assert self._conn is not None
        with self._pg.errors():
            cursor = self._conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def open(self, positions: dict[str, int]) -> None:
        """Resolve the tables, keep the publication in step with them, and either
        check the slot (a stored position) or create it with a snapshot."""
        self._conn = self._pg.connect()
        self._conn.autocommit = True
        self.tables = self._resolve_tables()
        self._publication()
        slot = self._slot_row()
        if self.source in positions:
            if slot is None:
                raise UserError(
                    f"PostgreSQL '{self.name}': replication slot '{self.slot}' no longer "
                    f"exists; the changes after {lsn_text(positions[self.source])} "
                    "cannot be read",
                    hint="reset the stream (lakeworks stream reset) to take a new "
                    "snapshot of the tables",
                )
            self._read_upto = positions[self.source]
            confirmed = slot[1]
            self._confirmed = parse_lsn(confirmed) if confirmed is not None else 0
            return
        if slot is not None:
            self._drop_slot()  # a snapshot that never committed: start it again
        self._create_slot()

    def _resolve_tables(self) -> dict[str, CapturedTable]:
        rows = self._sql(
            "SELECT n.nspname, c.relname, "
            "array(SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY array_position(i.indkey, "
            "a.attnum)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%s) "
            "AND n.nspname NOT LIKE 'pg_temp%%' ORDER BY 1, 2",
            [list(_SYSTEM_SCHEMAS)],
        )
        existing = {f"{schema}.{table}": list(key) for schema, table, key in rows}
        if self.spec.tables:
            wanted = [t if "." in t else f"public.{t}" for t in self.spec.tables]
            for name in wanted:
                if name not in existing:
                    raise UserError(
                        f"PostgreSQL '{self.name}': table {name} does not exist",
                        hint="fix 'tables' in the stream file (schema.table)",
                    )
                if not existing[name]:
                    raise UserError(
                        f"PostgreSQL '{self.name}': table {name} has no primary key; "
                        "changes are applied by primary key",
                        hint="add a primary key to the table, or leave it out of 'tables'",
                    )
        else:
            wanted = [
                name
                for name, key in existing.items()
                if key
                and any(fnmatch.fnmatchcase(name, p) for p in self.spec.include)
                and not any(fnmatch.fnmatchcase(name, p) for p in self.spec.exclude)
            ]
            if not wanted:
                raise UserError(
                    f"PostgreSQL '{self.name}': no table with a primary key matches "
                    f"include {self.spec.include}"
                    + (f" and exclude {self.spec.exclude}" if self.spec.exclude else ""),
                    hint="patterns match schema.table, such as public.*",
                )
        out: dict[str, CapturedTable] = {}
        targets: dict[str, str] = {}
        for name in wanted:
            schema, _, table = name.partition(".")
            target = self.target.table_for(schema, table)
            if target.lower() in targets:
                raise UserError(
                    f"tables {targets[target.lower()]} and {name} would both be written "
                    f"to {target}",
                    hint="use {schema} in the target naming rule, or exclude one",
                )
            targets[target.lower()] = name
            out[name] = CapturedTable(name, target, existing[name])
        return out

    def _quoted_tables(self) -> str:
        return ", ".join(
            ".".join(quote_ident(p) for p in name.split(".", 1)) for name in self.tables
        )

    def _publication(self) -> None:
        found = self._sql("SELECT 1 FROM pg_publication WHERE pubname = %s", [self.slot])
        verb = (
            "ALTER PUBLICATION {} SET TABLE {}" if found else "CREATE PUBLICATION {} FOR TABLE {}"
        )
        self._sql(verb.format(quote_ident(self.slot), self._quoted_tables()))

    def _slot_row(self) -> tuple[Any, ...] | None:
        rows = self._sql(
            "SELECT plugin, confirmed_flush_lsn::text, database FROM pg_replication_slots "
            "WHERE slot_name = %s",
            [self.slot],
        )
        if not rows:
            return None
        plugin, _confirmed, database = rows[0]
        if plugin != "pgoutput" or database != self._pg.config.database:
            raise UserError(
                f"PostgreSQL '{self.name}': replication slot '{self.slot}' exists but is "
                f"not this stream's ({plugin} in database {database})",
                hint="give the stream another slot name (source.slot)",
            )
        return rows[0]

    def _drop_slot(self) -> None:
        self._sql("SELECT pg_drop_replication_slot(%s)", [self.slot])

    def _create_slot(self) -> None:
        """Create the slot on a replication connection, exporting its snapshot (valid
        while that connection stays open and idle)."""
        import psycopg

        kwargs: dict[str, Any] = {"replication": "database", "autocommit": True}
        password = self._pg.password
        if password is not None:
            kwargs["password"] = password.get_secret_value()
        try:
            self._replication = psycopg.connect(self._pg.conninfo(), **kwargs)
        except psycopg.Error as exc:
            raise TransientError(f"PostgreSQL '{self.name}': {exc}") from None
        command = f"CREATE_REPLICATION_SLOT {self.slot} LOGICAL pgoutput EXPORT_SNAPSHOT"
        result = self._wait_for(self._replication, command)
        if result.status != 2:  # TUPLES_OK
            message = (result.error_message or b"").decode("utf-8", "replace").strip()
            raise UserError(
                f"PostgreSQL '{self.name}': cannot create replication slot "
                f"'{self.slot}': {message}",
                hint="the server needs wal_level = logical and a free replication slot",
            )
        self.snapshot_lsn = parse_lsn((result.get_value(0, 1) or b"").decode())
        self.snapshot_name = (result.get_value(0, 2) or b"").decode()

    def _wait_for(self, conn: psycopg.Connection[Any], command: str) -> Any:
        """Run a replication command, stoppable: creating a slot waits until every
        transaction running on the server has ended, which may take long."""
        pgconn = conn.pgconn
        pgconn.send_query(command.encode())
        started = time.monotonic()
        told = False
        while True:
            if self.cancel is not None and self.cancel.is_set():
                pgconn.get_cancel().cancel()
                raise TransientError(f"stopped while creating replication slot '{self.slot}'")
            ready, _, _ = select.select([pgconn.socket], [], [], 0.5)
            if ready:
                pgconn.consume_input()
            if not pgconn.is_busy():
                result = pgconn.get_result()
                while pgconn.get_result() is not None:
                    pass
                return result
            if not told and time.monotonic() - started > SLOT_WAIT_NOTICE_SECONDS:
                told = True
                self.log(
                    f"creating replication slot '{self.slot}': waiting for the transactions "
                    "running on the server to end (a consistent snapshot needs it)"
                )

    # -- the snapshot

    truncates = True
    """A truncate of a source table empties its target."""

    @property
    def snapshot_pending(self) -> bool:
        return self.snapshot_name is not None

    def snapshot(self, batch_rows: int) -> Iterator[tuple[CapturedTable, Iterator[pa.RecordBatch]]]:
        """Every table's rows as of the slot's snapshot."""
        from lakeworks.connectors.postgres import PostgresSource

        reader = PostgresSource(self.name, self._pg.config)
        try:
            for table in self.tables.values():
                request = ReadRequest(
                    table=table.qualified,
                    batch_rows=batch_rows,
                    options={"snapshot": self.snapshot_name},
                )
                yield table, self._table_batches(reader, request)
        finally:
            reader.close()

    @staticmethod
    def _table_batches(reader: PostgresSource, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        """A table's rows; an empty table still gives its columns (an empty batch), so
        that its target is created with the source's types."""
        empty = True
        for batch in reader.read(request):
            empty = False
            yield batch.batch
        if empty:
            yield pa.RecordBatch.from_pylist([], schema=reader.schema(request))

    def snapshot_done(self) -> int:
        """The snapshot is in the target: release it; returns the position it stands for."""
        if self._replication is not None:
            self._replication.close()
            self._replication = None
        self.snapshot_name = None
        assert self.snapshot_lsn is not None
        self._read_upto = self.snapshot_lsn
        return self.snapshot_lsn

    # -- changes

    def _stream(self) -> ReplicationReader:
        """The replication stream, started at what the target holds (opened on first use)."""
        if self._reader is None:
            password = self._pg.password
            reader = ReplicationReader(
                self.name,
                self._pg.conninfo(),
                password.get_secret_value() if password is not None else None,
                self.slot,
                self._read_upto,
                self._confirmed,
            )
            reader.start()
            self._reader = reader
            self._confirmed = max(self._confirmed, self._read_upto)
        return self._reader

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        """The changes of whole transactions committed after what was read (at least
        ``max_messages`` changes when there are that many), one block per table."""
        reader = self._stream()
        out = self._blocks(reader.take(max_messages, timeout), reader.committed_ms)
        if out:
            self._unflushed = True
        else:
            self._idle(reader)
        return out

    def _blocks(self, taken: list[RelationChanges], stamp: int | None) -> list[Message]:
        out: list[Message] = []
        try:
            for changes in taken:
                table = self.tables.get(changes.relation.qualified)
                if table is None:
                    continue  # a table of the publication no longer selected
                if changes.truncated_at is not None:
                    at = changes.truncated_at
                    out.append(
                        Message(
                            self.source,
                            at,
                            stamp,
                            None,
                            None,
                            "TRUNCATE " + changes.relation.qualified,
                            table=table.target,
                            next_position=at,
                        )
                    )
                if changes.payloads:
                    end = changes.lsns[-1]
                    out.append(
                        ChangeBlock(
                            self.source,
                            end,
                            stamp,
                            None,
                            None,
                            "",
                            table=table.target,
                            next_position=end,
                            changes=decode(changes),
                            count=len(changes.payloads),
                        )
                    )
        except ProtocolError as exc:
            raise UserError(f"PostgreSQL '{self.name}': replication stream: {exc}") from None
        out.sort(key=lambda m: m.offset)  # the last one holds the furthest position
        return out

    def _idle(self, reader: ReplicationReader) -> None:
        """Nothing new: note when the stream was last known to be caught up with the
        server, and let a quiet slot move past WAL holding nothing of the captured
        tables (so that it holds no WAL on a busy server)."""
        received = reader.quiet_position()
        if received is None:
            return  # changes came in meanwhile: the next poll takes them
        if self._clock is not None and received >= self._clock[1]:
            self.caught_up_at = self._clock[0]
            self._clock = None
        now = time.monotonic()
        if self._clock is None and now - self._clock_asked >= CLOCK_SECONDS:
            server_now, wal = self._sql(
                "SELECT clock_timestamp() AT TIME ZONE 'UTC', pg_current_wal_flush_lsn()::text"
            )[0]
            self._clock = (server_now, parse_lsn(str(wal)))
            self._clock_asked = now
            reader.confirm(self._confirmed, reply=True)
        if (
            not self._unflushed
            and received > self._confirmed
            and now - self._idle_confirmed >= IDLE_CONFIRM_SECONDS
        ):
            self._idle_confirmed = now
            self._confirmed = received
            reader.confirm(received)

    def key_of(self, target: str) -> list[str]:
        """The key columns of a target table."""
        for table in self.tables.values():
            if table.target == target:
                return table.key
        return []

    def committed(self, positions: dict[str, int]) -> None:
        """The target holds everything up to the stored position: let the slot go."""
        lsn = positions.get(self.source)
        self._unflushed = False
        if lsn is not None and lsn > self._confirmed:
            self._confirmed = lsn
            if self._reader is not None:
                self._reader.confirm(lsn)

    def lag(self, positions: dict[str, int]) -> dict[str, Any]:
        """Bytes of WAL the slot holds back beyond what the target has."""
        rows = self._sql(
            "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM "
            "pg_replication_slots WHERE slot_name = %s",
            [self.slot],
        )
        return {"lag_bytes": int(rows[0][0]) if rows and rows[0][0] is not None else None}

    def drop(self) -> bool:
        """Drop the slot and the publication (a reset); returns whether a slot was there."""
        self._conn = self._pg.connect()
        self._conn.autocommit = True
        try:
            dropped = bool(
                self._sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [self.slot])
            )
            if dropped:
                self._drop_slot()
            self._sql(f"DROP PUBLICATION IF EXISTS {quote_ident(self.slot)}")
            return dropped
        finally:
            self.close()

    def close(self) -> None:
        streaming = self._reader is not None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._replication is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing to close
                self._replication.close()
        self._replication = None
        if streaming and self._conn is not None:
            with contextlib.suppress(LakeworksError):
                self._wait_released()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def _wait_released(self) -> None:
        """Wait (briefly) until the server's sender process let the slot go, so that the
        next start, a reset or a drop finds it free."""
        deadline = time.monotonic() + RELEASE_SECONDS
        while time.monotonic() < deadline:
            rows = self._sql(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [self.slot]
            )
            if not rows or not rows[0][0]:
                return
            time.sleep(0.05)


def open_cdc_follower(
    name: str,
    raw_config: dict[str, Any],
    spec: CdcSource,
    target: StreamTarget,
    slot: str,
    *,
    cancel: threading.Event | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> CdcFollower:
    """The follower of a ``postgres`` data source (``raw_config``: its lakeworks.yml entry)."""
    if raw_config.get("type") != "postgres":
        raise UserError(
            f"data source '{name}' is not of type postgres",
            hint="postgres_cdc streams read PostgreSQL data sources",
        )
    from pydantic import ValidationError

    try:
        config = Config.model_validate(raw_config)
    except ValidationError as exc:
        raise UserError(f"data source '{name}': {exc.errors()[0]['msg']}") from None
    return CdcFollower(name, config, spec, target, slot, cancel=cancel, log=log)
