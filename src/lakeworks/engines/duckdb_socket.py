"""One embedded DuckDB warehouse, many local readers: a unix socket beside the file.

DuckDB lets one process open a database file. The process that holds it (``lakeworks
scheduler``, ``worker`` or ``up`` on the embedded warehouse) serves ``<file>.sock``
(readable by its user only); another Lakeworks command on the same machine whose open
fails on the lock (``lakeworks query``, ``map build``, ``quality run``) sends its
statements there instead. Each client connection gets its own cursor, so transactions
work; results travel as Arrow IPC, so types are kept.

Frames are a 4-byte big-endian length and a body: a request is JSON
``{"sql": …, "params": […]}``; an answer is JSON ``{"columns": …}`` or
``{"error": …, "kind": "user" | "transient"}`` followed, when ok, by one frame holding
the Arrow IPC stream of the rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from lakeworks.engines.base import StatementResult
from lakeworks.engines.duckdb_introspection import DuckDBIntrospection, rowcount_of
from lakeworks.errors import TransientError, UserCodeError

_HEADER = struct.Struct(">I")


def socket_path(database: Path) -> Path:
    """Where the holder of ``database`` serves it."""
    return database.with_name(database.name + ".sock")


_MAX_ADDRESS = 100
"""Bytes a unix socket address may have (108 on Linux, with room to spare)."""


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for binding or connecting to ``path``: the path itself, or — when a
    workspace lies too deep for a unix socket address — the same file reached through
    an open handle on its folder (``/proc/self/fd/N/name``)."""
    if len(os.fsencode(str(path))) <= _MAX_ADDRESS or not Path("/proc/self/fd").is_dir():
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def _send(sock: socket.socket, body: bytes) -> None:
    sock.sendall(_HEADER.pack(len(body)) + body)


def _receive(sock: socket.socket) -> bytes | None:
    head = _exactly(sock, _HEADER.size)
    if head is None:
        return None
    (size,) = _HEADER.unpack(head)
    body = _exactly(sock, size)
    if body is None:
        raise TransientError("the warehouse socket closed in the middle of an answer")
    return body


def _exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _column(values: list[object]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _as_table(cursor: duckdb.DuckDBPyConnection) -> pa.Table:
    names = [str(d[0]) for d in cursor.description or []]
    rows = cursor.fetchall()
    arrays = [_column([row[i] for row in rows]) for i in range(len(names))]
    return pa.Table.from_arrays(arrays, names=names)


class WarehouseServer:
    """Serves a DuckDB connection this process holds on ``socket_path(database)``."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, database: Path) -> None:
        self._conn = conn
        self.path = socket_path(database)
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> WarehouseServer:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            with socket_address(self.path) as address:
                sock.bind(address)
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old)
        sock.listen(16)
        sock.settimeout(0.5)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="warehouse-socket", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        cursor = self._conn.cursor()
        try:
            while True:
                body = _receive(client)
                if body is None:
                    return
                request = json.loads(body)
                try:
                    cursor.execute(request["sql"], request.get("params"))
                    table = _as_table(cursor) if cursor.description else None
                except duckdb.Error as exc:
                    kind = "transient" if isinstance(exc, duckdb.TransactionException) else "user"
                    _send(client, json.dumps({"error": str(exc).strip(), "kind": kind}).encode())
                    continue
                columns = table.column_names if table is not None else []
                _send(client, json.dumps({"columns": columns}).encode())
                sink = pa.BufferOutputStream()
                if table is not None:
                    with pa.ipc.new_stream(sink, table.schema) as writer:
                        writer.write_table(table)
                _send(client, sink.getvalue().to_pybytes())
        except (OSError, TransientError):
            return
        finally:
            with contextlib.suppress(Exception):
                cursor.close()
            client.close()


class RemoteSession(DuckDBIntrospection):
    """A session on a warehouse another local process holds (its socket)."""

    def __init__(self, path: Path) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with socket_address(path) as address:
                self._sock.connect(address)
        except OSError as exc:
            self._sock.close()
            raise TransientError(
                f"cannot reach the process holding the warehouse ({path}): {exc}"
            ) from None

    def _call(self, sql: str, params: list[object] | None) -> pa.Table | None:
        _send(self._sock, json.dumps({"sql": sql, "params": params}, default=str).encode())
        answer = _receive(self._sock)
        if answer is None:
            raise TransientError("the process holding the warehouse closed the connection")
        head: dict[str, Any] = json.loads(answer)
        if "error" in head:
            if head.get("kind") == "transient":
                raise TransientError(head["error"])
            raise UserCodeError(head["error"])
        payload = _receive(self._sock)
        if not payload:
            return None
        return pa.ipc.open_stream(payload).read_all()

    def execute(
        self, sql: str, params: list[object] | None = None, *, max_rows: int | None = None
    ) -> StatementResult:
        table = self._call(sql, params)
        if table is None:
            return StatementResult(columns=[], rows=[])
        if max_rows is not None:
            table = table.slice(0, max_rows)
        rows = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
        columns = list(table.column_names)
        return StatementResult(columns=columns, rows=rows, rowcount=rowcount_of(sql, columns, rows))

    def query_arrow(self, sql: str, params: list[object] | None = None) -> pa.Table:
        return self._call(sql, params) or pa.table({})

    def stream_arrow(self, sql: str, batch_size: int = 65536) -> Any:
        table = self.query_arrow(sql)
        yield from table.to_batches(batch_size)

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.execute("ROLLBACK")

    def interrupt(self) -> None:
        """Not supported over the socket: the statement runs to its end."""

    def close(self) -> None:
        self._sock.close()
