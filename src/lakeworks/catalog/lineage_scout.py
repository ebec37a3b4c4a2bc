"""Column lineage of a ``lakeworks run``, analysed while the command starts up.

For its first half second a ``lakeworks run`` process imports its modules and loads the
workspace on one core; the other core idles. The command forks a scout first
(``begin``): a process of its own that loads the workspace too, finds the selected SQL
nodes whose code changed since their lineage was stored, and analyses them against the
catalog, as the run's own analysis ahead would (``lineage_ahead``), noting the columns
each analysis was given. The run's Data Map then takes the scout's answer
(``answer_for``) instead of analysing the nodes itself; a batch still uses a result only
while the node's code and those columns are unchanged. The scout only reads the
metadata store, never creates it, never touches the warehouse and writes no output; it
ends when it has answered, or when the command ends.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakeworks.catalog.lineage_index import Lookups, NodeLineage
    from lakeworks.spec.models import Node, Workspace

MIN_FILES = 16
"""Fewer SQL files than this in the workspace: the run's batches analyse in-process,
a scout would start for nothing."""
ANSWER_SECONDS = 300.0

Answer = tuple[dict[str, "NodeLineage"], dict[str, "Lookups"]]


@dataclass
class _Scout:
    pid: int
    answers: int
    root: Path
    env: str
    lock: threading.Lock


_scouts: list[_Scout] = []


def begin(root: Path, targets: Sequence[str], env: str) -> None:
    """Fork the scout of a run of ``targets`` in the workspace at ``root`` (a command's
    own process only, before it starts threads)."""
    if not hasattr(os, "fork") or _sql_files(root) < MIN_FILES:
        return
    read_end, write_end = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the scout: never returns into the command's code
        code = 1
        try:
            os.close(read_end)
            _quiet(parent)
            answer = _analyse(root, list(targets), env)
            _write_all(write_end, pickle.dumps(answer, protocol=-1))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _scouts.append(_Scout(pid, read_end, root.resolve(), env, threading.Lock()))


def answer_for(root: Path, env: str) -> Callable[[], Answer | None] | None:
    """What waits for the scout of a run in ``root`` and ``env``, if one was started."""
    for scout in _scouts:
        if scout.root == root.resolve() and scout.env == env:
            return lambda: _receive(scout)
    return None


def _receive(scout: _Scout) -> Answer | None:
    with scout.lock:
        if scout.answers < 0:
            return None
        try:
            data = _read_all(scout.answers, time.monotonic() + ANSWER_SECONDS)
        finally:
            os.close(scout.answers)
            scout.answers = -1
            _reap(scout.pid)
        try:
            answer: Answer | None = pickle.loads(data) if data else None
        except (pickle.PickleError, EOFError, ValueError):  # cut short: analyse here
            return None
        return answer


def _sql_files(root: Path) -> int:
    count = 0
    with contextlib.suppress(OSError):
        for _folder, _dirs, files in os.walk(root / "workflows"):
            count += sum(1 for f in files if f.endswith(".sql"))
            if count >= MIN_FILES:
                break
    return count


def _quiet(parent: int) -> None:
    """The scout writes nothing, leaves ^C to the command, and ends with it."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _analyse(root: Path, targets: list[str], env: str) -> Answer | None:
    from lakeworks.catalog.lineage_worker import MIN_NODES
    from lakeworks.spec.loader import load_workspace
    from lakeworks.spec.models import NodeKind
    from lakeworks.spec.selection import select_nodes
    from lakeworks.store.locations import new_default_store

    workspace = load_workspace(root)
    selected = (workspace.find_node(k) for k in select_nodes(workspace, targets))
    nodes = [n for n in selected if n is not None and n.kind is NodeKind.SQL]
    if len(nodes) < MIN_NODES:
        return None
    if new_default_store(workspace.state_dir):  # nothing analysed or catalogued yet;
        # it is not created here: the command creates it from its schema snapshot
        return _analysed(workspace, nodes, {})
    from lakeworks.catalog.lineage_store import changed_nodes
    from lakeworks.catalog.listener import SchemaLookup
    from lakeworks.store.database import Database, default_database_url

    db = Database.open(default_database_url(workspace.state_dir), migrate=False, snapshot=False)
    try:
        changed = changed_nodes(db, workspace.name, env, nodes)
        if len(changed) < MIN_NODES:
            return None
        return _analysed(workspace, changed, SchemaLookup(db, workspace.name, env))
    finally:
        db.close()


def _analysed(
    workspace: Workspace,
    nodes: Sequence[Node],
    catalog: Mapping[str, Sequence[str]],
) -> Answer:
    from lakeworks.catalog.lineage_index import analyse_tasks, sql_tasks

    tasks, _ = sql_tasks(workspace, nodes, {})
    lookups: dict[str, Lookups] = {}
    return analyse_tasks(tasks, catalog, lookups=lookups), lookups


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def _read_all(fd: int, deadline: float) -> bytes:
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    parts: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            return b""  # no answer in time: the run analyses its nodes itself
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
