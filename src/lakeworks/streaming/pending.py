"""What a stream has read since its last flush, in arrival order.

Followers hand over decoded messages, or (plain JSON from Kafka) blocks of values that
stay undecoded until the flush; either way the pending part knows how many messages it
holds, where each source's position ends and the newest timestamp, without a Python
object per message for blocks.
"""

from __future__ import annotations

from lakeworks.streaming.changes import change_count
from lakeworks.streaming.kafka import Message, MessageBlock


class Pending:
    """The messages of the next flush."""

    def __init__(self) -> None:
        self.parts: list[list[Message] | MessageBlock] = []
        self.count = 0
        self.ends: dict[str, int] = {}
        """The position after each source's last message."""
        self.newest_ms: int | None = None

    def __len__(self) -> int:
        return self.count

    def add(self, polled: list[Message] | MessageBlock) -> None:
        if not len(polled):
            return
        self.parts.append(polled)
        if isinstance(polled, MessageBlock):
            self.count += len(polled)
            self.ends.update(polled.ends)
            self._stamp(polled.newest_ms)
            return
        self.count += change_count(polled)  # a change block stands for many changes
        for m in polled:
            self.ends[m.source] = m.position_after()
            self._stamp(m.timestamp_ms)

    def _stamp(self, stamp: int | None) -> None:
        if stamp is not None and (self.newest_ms is None or stamp > self.newest_ms):
            self.newest_ms = stamp

    def decoded(self) -> None:
        """Wait for the blocks still being decoded on another thread."""
        for part in self.parts:
            if isinstance(part, MessageBlock):
                part.decoded()

    def blocks(self) -> list[MessageBlock] | None:
        """The parts when every one is a block (else None)."""
        found = [p for p in self.parts if isinstance(p, MessageBlock)]
        return found if len(found) == len(self.parts) else None

    def messages(self) -> list[Message]:
        """Every pending message as a ``Message`` (blocks decoded one by one)."""
        out: list[Message] = []
        for part in self.parts:
            out.extend(part.messages() if isinstance(part, MessageBlock) else part)
        return out
