"""What a stream node follows: the shape every source of stream nodes has.

A follower opens at the committed positions, may first hand over an initial snapshot
(PostgreSQL CDC), then returns decoded messages (or blocks of undecoded ones); after
each target commit it is told the new positions (a replication slot is advanced only then).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from lakeworks.streaming.kafka import Message, MessageBlock


class SnapshotTable(Protocol):
    """One table of an initial snapshot and the target it is copied into."""

    @property
    def qualified(self) -> str: ...

    @property
    def target(self) -> str: ...


class Follower(Protocol):
    sources: list[str]
    """The position names (``topic[partition]``, ``pg:<slot>``)."""
    caught_up_at: datetime | None
    """When the source last had nothing newer than what was read (None: unknown)."""
    truncates: bool
    """Whether messages may say that a source table was emptied."""

    def open(self, positions: dict[str, int]) -> None: ...

    @property
    def snapshot_pending(self) -> bool: ...

    def snapshot(
        self, batch_rows: int
    ) -> Iterator[tuple[SnapshotTable, Iterator[pa.RecordBatch]]]: ...

    def snapshot_done(self) -> int:
        """The snapshot is committed; returns the position it stands for."""
        ...

    def poll(self, max_messages: int, timeout: float) -> list[Message] | MessageBlock: ...

    def key_of(self, target: str) -> list[str]:
        """The key columns of a target table known to the source (else none)."""
        ...

    def lag(self, positions: dict[str, int]) -> dict[str, Any]:
        """Status fields saying how far behind the source the positions are."""
        ...

    def committed(self, positions: dict[str, int]) -> None: ...

    def close(self) -> None: ...
