"""Column lineage of the Data Map's batches in a helper process, beside the workers.

Parsing and qualifying SQL is pure Python work: in the process that runs the nodes it
competes with the worker threads for the interpreter lock. Once a batch is big enough,
the recorder hands its SQL nodes (rendered code, as plain data) to a helper process
forked from this one (so it starts in milliseconds, with every module loaded), which
analyses them on the other core and returns the lineage; the recorder writes it as
before. The helper touches no database, engine or file: it gets the columns of the
tables the batch names from this process, and asks again (a new round) when a script
names a table it was not given. When the helper cannot start, dies or does not answer,
the batch is analysed in this process: the result is the same either way.

Requests and answers are pickled over a private pipe pair between the two processes.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import os
import pickle
import select
import signal
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from lakeworks.catalog.lineage_index import (
    ColumnsOverlay,
    Lookups,
    NodeLineage,
    SqlTask,
    analyse_tasks,
)

logger = logging.getLogger("lakeworks.catalog")

MIN_NODES = 16
"""A batch with fewer SQL nodes is analysed here unless the helper already runs (forking
and the copies of the pages both processes then write cost some 20-40 CPU-ms)."""
ANSWER_SECONDS = 300.0
"""A helper that has not answered for this long is given up (the batch runs here)."""
ROUNDS = 5
"""Requests for one batch at most (each round adds the tables the helper asked for)."""

Columns = Mapping[str, Sequence[str] | None]
"""Table columns by name; None for a table known to have none recorded."""
ColumnSource = Callable[[Iterable[str]], Columns]
"""Reads the columns of the named tables (the catalog, the just-harvested ones)."""

_HEADER = struct.Struct("!Q")


class _Given(Mapping[str, Sequence[str]]):
    """The columns this process sent; a lookup of any other table is noted."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self.unknown: set[str] = set()

    def __getitem__(self, key: str) -> Sequence[str]:
        if key not in self.columns:
            self.unknown.add(key)
            raise KeyError(key)
        found = self.columns[key]
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, v in self.columns.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for v in self.columns.values() if v is not None)


def answer(
    tasks: Sequence[SqlTask],
    learned: Mapping[str, Sequence[str]],
    columns: Columns,
    record: bool = False,
) -> tuple[str, Any]:
    """What the helper returns for a request: ``("ok", lineage by node key)`` (with
    ``record``: ``(lineage, Lookups by node key)``), ``("more", table names)`` when a
    script named a table not in ``columns``, or ``("error", exception)``."""
    try:
        given = _Given(columns)
        lookups: dict[str, Lookups] | None = {} if record else None
        result = analyse_tasks(tasks, ColumnsOverlay(given, learned), shared=True, lookups=lookups)
        if given.unknown:
            return "more", sorted(given.unknown)
        return "ok", (result, lookups) if record else result
    except Exception as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        return "error", exc


class LineageWorker:
    """The helper process, forked on first use; one request at a time."""

    def __init__(self, min_nodes: int = MIN_NODES) -> None:
        self.min_nodes = min_nodes
        """Batches with fewer SQL nodes are analysed by the caller until the helper runs."""
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._requests = -1
        self._answers = -1
        self._broken = not hasattr(os, "fork")

    @property
    def running(self) -> bool:
        return self._pid is not None

    def wanted(self, sql_nodes: int) -> bool:
        """Whether a batch of ``sql_nodes`` SQL nodes should go to the helper."""
        return not self._broken and (self.running or sql_nodes >= self.min_nodes)

    def analyse(
        self,
        tasks: Sequence[SqlTask],
        learned: Mapping[str, Sequence[str]],
        names: Iterable[str],
        columns_of: ColumnSource,
    ) -> dict[str, NodeLineage] | None:
        """The lineage of ``tasks`` from the helper, given the columns of ``names``
        (and of any other table it asks for); None when no helper can answer (analyse
        here instead). An error of the analysis itself is raised here."""
        found: dict[str, NodeLineage] | None = self._ask(tasks, learned, names, columns_of)
        return found

    def analyse_recorded(
        self,
        tasks: Sequence[SqlTask],
        learned: Mapping[str, Sequence[str]],
        names: Iterable[str],
        columns_of: ColumnSource,
    ) -> tuple[dict[str, NodeLineage], dict[str, Lookups]] | None:
        """``analyse``, with the columns each node's analysis was given (its ``Lookups``),
        so that its result can be reused while those columns stay the same."""
        found: tuple[dict[str, NodeLineage], dict[str, Lookups]] | None = self._ask(
            tasks, learned, names, columns_of, record=True
        )
        return found

    def _ask(
        self,
        tasks: Sequence[SqlTask],
        learned: Mapping[str, Sequence[str]],
        names: Iterable[str],
        columns_of: ColumnSource,
        *,
        record: bool = False,
    ) -> Any:
        columns = dict(columns_of(names))
        with self._lock:
            for _ in range(ROUNDS):
                if self._broken:
                    return None
                try:
                    self._start()
                    request = (tasks, learned, columns, record)
                    _send(self._requests, pickle.dumps(request, protocol=-1))
                    status, value = pickle.loads(_receive(self._answers, ANSWER_SECONDS))
                except (OSError, EOFError, TimeoutError, pickle.PickleError) as exc:
                    logger.warning("column lineage helper process unavailable: %s", exc)
                    self._broken = True
                    self._stop()
                    return None
                if status == "more":
                    columns.update(columns_of(value))
                    continue
                if status == "error":
                    raise value
                return value
        return None

    def close(self) -> None:
        """Stop the helper (it also stops when this process ends)."""
        with self._lock:
            self._stop()

    def _start(self) -> None:
        if self._pid is not None:
            return
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        with _dialect_imports(), warnings.catch_warnings():
            # the helper runs no thread, lock or connection it inherits (see above)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the helper: never returns into the caller's code
            code = 1
            try:
                os.close(requests_write)
                os.close(answers_read)
                # the process's handlers act on what the helper only has copies of;
                # it ends when the process does (its requests' pipe closes)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                gc.freeze()  # what it inherited stays shared with this process
                gc.enable()
                _serve(requests_read, answers_write)
                code = 0
            finally:
                os._exit(code)
        os.close(requests_read)
        os.close(answers_write)
        self._pid, self._requests, self._answers = pid, requests_write, answers_read

    def _stop(self) -> None:
        pid, self._pid = self._pid, None
        if pid is None:
            return
        for fd in (self._requests, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] != 0:
                    return
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
            os.waitpid(pid, 0)


@contextlib.contextmanager
def _dialect_imports() -> Iterator[None]:
    """Hold sqlglot's lock of lazy dialect imports: a thread importing a dialect while
    the helper is forked would leave the helper a lock nobody releases."""
    from sqlglot import dialects

    lock = getattr(dialects, "_import_lock", None)
    if lock is None:
        yield
        return
    with lock:
        yield


def _serve(requests: int, answers: int) -> None:
    while True:
        try:
            data = _receive(requests, None)
        except EOFError:
            return
        tasks, learned, columns, record = pickle.loads(data)
        _send(answers, pickle.dumps(answer(tasks, learned, columns, record), protocol=-1))


def _send(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int, timeout: float | None) -> bytes:
    deadline = None if timeout is None else time.monotonic() + timeout
    (size,) = _HEADER.unpack(_read(fd, _HEADER.size, deadline))
    return _read(fd, size, deadline)


def _read(fd: int, size: int, deadline: float | None) -> bytes:
    parts: list[bytes] = []
    poller = None
    if deadline is not None:
        poller = select.poll()  # not select(): a busy server's descriptors pass 1024
        poller.register(fd, select.POLLIN)
    while size:
        if poller is not None and deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise TimeoutError("no answer")
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other process closed the pipe")
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


_shared: LineageWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> LineageWorker:
    """This process's helper (stopped when the process exits)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LineageWorker()
            atexit.register(_shared.close)
        return _shared
