"""Reading a logical replication slot on the streaming replication protocol, in a
thread of its own.

The reader (psycopg2's replication connection, as ``pg_recvlogical`` reads) keeps the
socket drained while the stream writes a flush, so the server decodes without waiting
for the target; it sorts each message into the ``pgoutput`` decoder, holding at most
``BACKLOG`` changes. It confirms a position to the server only when told (after the
target committed it) and answers the server's keepalives. A failure of the connection
is handed to the caller as a transient error at its next ``take``.
"""

from __future__ import annotations

import contextlib
import select
import threading
from typing import Any

from lakeworks.errors import LakeworksError, TransientError, UserError
from lakeworks.streaming.pgoutput import Decoder, ProtocolError, RelationChanges

BACKLOG = 200_000
"""Changes read ahead of the stream at most (then the server waits)."""
STATUS_SECONDS = 10.0
"""How often the position is told to the server unasked."""
_SELECT_SECONDS = 0.1
_BATCH = 1000


class ReplicationReader:
    """The replication stream of one slot, from a start position."""

    def __init__(
        self,
        name: str,
        conninfo: str,
        password: str | None,
        slot: str,
        start_lsn: int,
        confirmed: int,
    ) -> None:
        self.name = name
        self.slot = slot
        self.decoder = Decoder(start_lsn)
        self.wal_end = 0
        """The server's position as of its last message (all before it was received)."""
        self._conninfo = conninfo
        self._password = password
        self._start = start_lsn
        self._confirm = max(confirmed, start_lsn)
        self._sent = -1
        self._reply = False
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._error: LakeworksError | None = None
        self._conn: Any = None
        self._cursor: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Connect and start streaming (errors here are raised at once)."""
        import psycopg2
        import psycopg2.extras

        kwargs: dict[str, Any] = {}
        if self._password is not None:
            kwargs["password"] = self._password
        try:
            self._conn = psycopg2.connect(
                self._conninfo,
                connection_factory=psycopg2.extras.LogicalReplicationConnection,
                **kwargs,
            )
            self._cursor = self._conn.cursor()
            self._cursor.start_replication(
                slot_name=self.slot,
                decode=False,
                start_lsn=self._start,
                options={"proto_version": "1", "publication_names": self.slot},
                status_interval=STATUS_SECONDS,
            )
            self._send_feedback()
        except psycopg2.Error as exc:
            self.close()
            raise self._translate(exc) from None
        self._thread = threading.Thread(target=self._run, name=f"replication {self.slot}")
        self._thread.daemon = True
        self._thread.start()

    # -- the caller's side

    def take(self, max_changes: int, timeout: float) -> list[RelationChanges]:
        """The changes of the transactions committed since the last call, once there
        are ``max_changes`` of them or ``timeout`` passed."""
        with self._lock:
            self._lock.wait_for(
                lambda: self._error is not None or self.decoder.count >= max_changes, timeout
            )
            if self._error is not None:
                raise self._error
            changes = self.decoder.take()
            self._lock.notify_all()
            return changes

    def quiet_position(self) -> int | None:
        """The server's position as of its last message when every change before it
        was taken (none held, no transaction open), else None."""
        with self._lock:
            if self.decoder.done or self.decoder.in_transaction:
                return None
            return self.wal_end

    @property
    def end_lsn(self) -> int:
        return self.decoder.end_lsn

    @property
    def committed_ms(self) -> int | None:
        return self.decoder.committed_ms

    def confirm(self, lsn: int, reply: bool = False) -> None:
        """Tell the server that everything up to ``lsn`` is safely written (and, with
        ``reply``, ask it for its current position)."""
        with self._lock:
            self._confirm = max(self._confirm, lsn)
            self._reply = self._reply or reply

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self._thread = None
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a broken connection: nothing to close
                self._conn.close()
        self._conn = self._cursor = None

    # -- the reading thread

    def _run(self) -> None:
        import psycopg2

        cursor = self._cursor
        read = cursor.read_message
        decoder = self.decoder
        lock = self._lock
        try:
            while not self._stop.is_set():
                self._send_feedback()
                with lock:
                    if decoder.count >= BACKLOG:
                        lock.wait(_SELECT_SECONDS)
                        continue
                    committed = False
                    message = None
                    for _ in range(_BATCH):
                        message = read()
                        if message is None:
                            break
                        committed = decoder.feed(message.payload) or committed
                    self.wal_end = max(self.wal_end, int(cursor.wal_end or 0))
                    if committed:
                        lock.notify_all()
                if message is None:
                    select.select([self._conn], [], [], _SELECT_SECONDS)
        except psycopg2.Error as exc:
            self._fail(self._translate(exc))
        except ProtocolError as exc:
            self._fail(UserError(f"PostgreSQL '{self.name}': replication stream: {exc}"))
        except (OSError, ValueError) as exc:  # the socket went away under select
            self._fail(TransientError(f"PostgreSQL '{self.name}': replication stream: {exc}"))
        except Exception as exc:  # never a silent stop: the stream restarts and says why
            self._fail(TransientError(f"PostgreSQL '{self.name}': replication reader: {exc!r}"))

    def _send_feedback(self) -> None:
        with self._lock:
            lsn, reply = self._confirm, self._reply
            self._reply = False
        if lsn > self._sent or reply:
            self._cursor.send_feedback(write_lsn=lsn, flush_lsn=lsn, reply=reply, force=True)
            self._sent = lsn

    def _fail(self, error: LakeworksError) -> None:
        with self._lock:
            if not self._stop.is_set():
                self._error = error
            self._lock.notify_all()

    def _translate(self, exc: Exception) -> LakeworksError:
        import psycopg2
        from psycopg2 import errors

        text = str(exc).strip()
        message = text.splitlines()[0] if text else repr(exc)
        if isinstance(exc, errors.UndefinedObject):
            return UserError(
                f"PostgreSQL '{self.name}': replication slot '{self.slot}' was dropped "
                "while the stream ran",
                hint="reset the stream (lakeworks stream reset) to take a new snapshot",
            )
        if isinstance(
            exc,
            psycopg2.ProgrammingError | psycopg2.NotSupportedError | errors.InsufficientPrivilege,
        ):
            return UserError(f"PostgreSQL '{self.name}': replication stream: {message}")
        return TransientError(
            f"PostgreSQL '{self.name}': replication stream: {message}",
            hint="the connection failed; the stream reconnects",
        )
