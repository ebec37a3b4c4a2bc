"""Ways to carry a binary ``COPY … TO STDOUT`` from the server into a ``CopyStream``.

- ``direct``: psycopg opens and authenticates the connection; the COPY query is then
  sent and its answer read on the connection's own socket, unframed by the compiled
  decoder in blocks of up to a megabyte. No per-row call anywhere. Only for
  connections without TLS or GSS encryption (the bytes on the socket must be plain).
- ``psql``: the PostgreSQL client streams the COPY to a pipe (works with TLS).
- ``psycopg``: libpq's per-row ``get_copy_data`` joined into blocks (works anywhere,
  slowest).

Each transport is a generator that writes into the stream and yields whenever it has
written, so the caller can take finished batches off the stream in between.
"""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any, cast

from lakeworks.connectors.credentials import redact
from lakeworks.connectors.pg_binary import CopyStream, decoder_module
from lakeworks.errors import LakeworksError, TransientError, UserError

if TYPE_CHECKING:
    import psycopg

RAW_BUFFER = 1 << 20
"""Socket bytes read at a time (the compiled unframer takes them all in one call)."""
LOW_WATER = 256 << 10
"""Wake the reader only when this much has arrived (far fewer wake-ups than per row)."""
POLL_MS = 20
"""How long to wait for ``LOW_WATER`` bytes before taking whatever has arrived."""
JOIN_ROWS = 8192
"""Rows joined into one block by the psycopg transport."""
_F_SETPIPE_SZ = 1031
_TRANSIENT_STATES = ("08", "40001", "40P01", "53", "55P03", "57P", "57014")
"""SQLSTATEs (or their classes) worth a retry: connection, serialization, resources,
lock timeouts, server shutdown, cancelled statements."""


def server_error(body: bytes, name: str) -> LakeworksError:
    """The Lakeworks error for a PostgreSQL ErrorResponse body (fields ``<code>text\\0``)."""
    fields: dict[str, str] = {}
    for part in body.split(b"\0"):
        if part:
            fields.setdefault(chr(part[0]), part[1:].decode(errors="replace"))
    state = fields.get("C", "")
    message = redact(fields.get("M", "the server reported an error"))
    text = f"PostgreSQL '{name}': {message}"
    if state.startswith(_TRANSIENT_STATES):
        return TransientError(text, hint="the connection failed; the sync is retried")
    hint = fields.get("H")
    return UserError(text, hint=redact(hint) if hint else None)


def plain_socket(conn: psycopg.Connection[Any]) -> bool:
    """True when the connection's bytes travel unencrypted (``direct`` can read them)."""
    pgconn = conn.pgconn
    if pgconn.ssl_in_use:
        return False
    return not bool(getattr(pgconn, "used_gssapi", False))


def direct(
    conn: psycopg.Connection[Any], sql: str, stream: CopyStream, name: str
) -> Iterator[None]:
    """Send ``sql`` (a COPY … TO STDOUT) on ``conn``'s socket and unframe its answer.

    The connection is left unusable afterwards (libpq never saw the answer); close it.
    """
    lib = decoder_module()
    sock = socket.socket(fileno=os.dup(conn.pgconn.socket))
    try:
        query = sql.encode() + b"\0"
        sock.setblocking(True)
        try:
            sock.sendall(b"Q" + (len(query) + 4).to_bytes(4, "big") + query)
        except OSError as exc:
            raise TransientError(f"PostgreSQL '{name}': {exc}") from None
        sock.setblocking(False)
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, LOW_WATER)
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        raw = bytearray(RAW_BUFFER)
        start = end = 0
        while True:
            if end > start:
                consumed, written, status, body = lib.unframe(
                    raw, start, end, stream.data, stream.end
                )
                progressed = consumed > start
                stream.wrote(written - stream.end)
                start = consumed
                if status == 1:
                    yield
                    return
                if status == 2:
                    raise server_error(body, name)
                if status == 3:
                    raise UserError(
                        f"PostgreSQL '{name}': unexpected message {body!r} in a COPY answer"
                    )
                if progressed:
                    yield
                    continue
                if _whole_message_waiting(raw, start, end):
                    stream.reserve(int.from_bytes(raw[start + 1 : start + 5], "big"))
                    continue
            if start == end:
                start = end = 0
            elif len(raw) - end < RAW_BUFFER // 4:
                size = end - start
                raw[:size] = raw[start:end]
                start, end = 0, size
                if end > 5:
                    needed = 1 + int.from_bytes(raw[1:5], "big")
                    if needed > len(raw):
                        raw.extend(bytes(needed - len(raw)))
            end += _receive(sock, poller, raw, end, name)
    finally:
        sock.close()


def _whole_message_waiting(raw: bytearray, start: int, end: int) -> bool:
    if end - start < 5:
        return False
    return end - start >= 1 + int.from_bytes(raw[start + 1 : start + 5], "big")


def _receive(sock: socket.socket, poller: select.poll, raw: bytearray, end: int, name: str) -> int:
    with memoryview(raw) as view:
        while True:
            poller.poll(POLL_MS)
            try:
                count = sock.recv_into(view[end:])
            except BlockingIOError:
                continue
            except OSError as exc:
                raise TransientError(
                    f"PostgreSQL '{name}': {exc}", hint="the connection failed; the sync is retried"
                ) from None
            if count == 0:
                raise TransientError(
                    f"PostgreSQL '{name}': the server closed the connection during the COPY",
                    hint="the connection failed; the sync is retried",
                )
            return count


def psql(
    program: str,
    conninfo: str,
    password: str | None,
    sql: str,
    stream: CopyStream,
    name: str,
) -> Iterator[None]:
    """Stream ``sql`` through the ``psql`` client (password through its environment)."""
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    command = [program, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, bufsize=0
    )
    assert process.stdout is not None and process.stderr is not None
    output = cast("io.RawIOBase", process.stdout)
    try:
        with suppress(OSError):
            import fcntl

            fcntl.fcntl(process.stdout.fileno(), _F_SETPIPE_SZ, RAW_BUFFER)
        while True:
            with stream.writable(RAW_BUFFER) as view:
                count = output.readinto(view)
            if not count:
                break
            stream.wrote(count)
            yield
        code = process.wait(timeout=60)
        if code != 0:
            message = redact(process.stderr.read().decode(errors="replace").strip())
            message = message.removeprefix("psql:").strip() or f"psql exited with {code}"
            if code == 2:
                raise TransientError(
                    f"PostgreSQL '{name}': {message}",
                    hint="the connection failed; the sync is retried",
                )
            raise UserError(f"PostgreSQL '{name}': {message}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def libpq(conn: psycopg.Connection[Any], sql: str, stream: CopyStream, name: str) -> Iterator[None]:
    """Stream ``sql`` through libpq's ``get_copy_data``, rows joined into blocks."""
    from psycopg import pq

    pgconn = conn.pgconn
    pgconn.send_query(sql.encode())
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        raise _result_error(pgconn, result, name)
    get = pgconn.get_copy_data
    parts: list[bytes | memoryview] = []
    while True:
        size, data = get(0)
        if size < 0:
            break
        parts.append(data)
        if len(parts) >= JOIN_ROWS:
            stream.write(b"".join(parts))
            parts.clear()
            yield
    if parts:
        stream.write(b"".join(parts))
        yield
    result = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    if result is None or result.status != pq.ExecStatus.COMMAND_OK:
        raise _result_error(pgconn, result, name)


def _result_error(pgconn: Any, result: Any, name: str) -> LakeworksError:
    """The error of a failed libpq result (no result at all: the connection broke)."""
    from psycopg import pq

    state = result.error_field(pq.DiagnosticField.SQLSTATE) if result is not None else None
    if not state:  # no server error: libpq lost the connection
        message = redact(pgconn.error_message.decode(errors="replace").strip())
        return TransientError(
            f"PostgreSQL '{name}': COPY ended early: {message}",
            hint="the server closed the stream; the sync is retried",
        )
    message = result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or pgconn.error_message
    return server_error(b"C" + state + b"\0M" + message + b"\0", name)
