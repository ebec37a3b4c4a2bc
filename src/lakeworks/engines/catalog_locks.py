"""Turns for DuckDB catalog changes of one object, within a process.

DuckDB fails the second of two concurrent catalog changes of one object with a
write-write conflict, even for ``CREATE TABLE IF NOT EXISTS``; changes of different
objects do not conflict. A statement that creates, drops, alters or comments on a named
table, view or sequence takes the turn of that name only, so parallel nodes that create
their own tables run side by side. A change of a schema, an index, or of an object whose
name is not recognised takes every turn at once, as every catalog change did before.
"""

from __future__ import annotations

import re
import threading
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType

STRIPES = 64
"""Locks per connection; two names that share one merely take turns."""

_IDENTIFIER = r'(?:"(?:[^"]|"")*"|[^\s.();"]+)'
_CHANGE = re.compile(
    r"""^[\s(]*(?:
        CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY|PERSISTENT)\s+)?(?P<create>\w+)
        |DROP\s+(?P<drop>\w+)
        |ALTER\s+(?P<alter>\w+)
        |COMMENT\s+ON\s+(?P<comment>\w+)
    )\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?"""
    rf"(?P<name>{_IDENTIFIER}(?:\s*\.\s*{_IDENTIFIER})*)",
    re.IGNORECASE | re.VERBOSE,
)
_CATALOG_WORDS = frozenset({"CREATE", "DROP", "ALTER", "COMMENT"})
_NAMED_KINDS = frozenset({"TABLE", "VIEW", "SEQUENCE", "MACRO", "FUNCTION", "TYPE", "COLUMN"})
_PART = re.compile(_IDENTIFIER)


def changes_catalog(sql: str) -> bool:
    """Whether ``sql`` creates, drops, alters or comments on a catalog object."""
    words = sql.lstrip(" \t\r\n(").split(None, 1)
    return bool(words) and words[0].upper() in _CATALOG_WORDS


def changed_object(sql: str) -> str | None:
    """The lower-case name of the table, view or other named object ``sql`` changes;
    None for a schema, an index or a statement not recognised."""
    match = _CHANGE.match(sql)
    if match is None:
        return None
    kind = next(k for k in match.group("create", "drop", "alter", "comment") if k).upper()
    if kind not in _NAMED_KINDS:
        return None
    parts = [_unquote(p) for p in _PART.findall(match.group("name"))]
    if kind == "COLUMN":  # COMMENT ON COLUMN [schema.]table.column: the table's turn
        parts = parts[:-1]
    return parts[-1] if parts else None


def _unquote(part: str) -> str:
    if part.startswith('"'):
        return part[1:-1].replace('""', '"').lower()
    return part.lower()


class CatalogLocks:
    """The turns of one DuckDB connection's catalog changes."""

    def __init__(self, stripes: int = STRIPES) -> None:
        self._locks = tuple(threading.RLock() for _ in range(stripes))

    def for_statement(self, sql: str) -> AbstractContextManager[object]:
        """The turn ``sql`` must hold while it runs outside a transaction (none for a
        statement that changes no catalog object)."""
        if not changes_catalog(sql):
            return nullcontext()
        name = changed_object(sql)
        return self.exclusive() if name is None else self.named(name)

    def named(self, name: str) -> threading.RLock:
        """The turn of the object ``name`` (lower case, without schema)."""
        return self._locks[hash(name) % len(self._locks)]

    def exclusive(self) -> _Every:
        """Every turn at once: nothing else changes this connection's catalog meanwhile."""
        return _Every(self._locks)


class _Every:
    """Holds every lock of a tuple, taken in order (no two holders can deadlock)."""

    def __init__(self, locks: tuple[threading.RLock, ...]) -> None:
        self._locks = locks

    def __enter__(self) -> _Every:
        for lock in self._locks:
            lock.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for lock in reversed(self._locks):
            lock.release()
