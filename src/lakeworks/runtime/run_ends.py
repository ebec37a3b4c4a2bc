"""Recording the ends of runs that finish together in one transaction (group commit).

A worker's slots finish trivial nodes within a millisecond of each other; writing each
end in its own transaction made the store's round trips, not the nodes, the limit.
``EndWriter.finish`` blocks its caller until the end is written, like a direct write:
the first caller writes every end waiting at that moment, and the ends that arrive
meanwhile are written together by the next one. A lone run is written at once, so
nothing waits for company.

When a batch fails, each of its ends is written on its own, so one end the store
refuses fails only its own run, as before.

A worker's slot that will run the next queued instance after this one says so
(``claim_after``) before the run: the end written from that thread then also claims
the slot's next instance in the same transaction (``claimed`` hands it over). A
``lakeworks run`` thread does the same with ``start_after``: the instance to start is
chosen when the end is written (the next one ready by then), and started in the end's
transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from lakeworks.store.claims import ClaimRequest
from lakeworks.store.database import Database
from lakeworks.store.leases import RunEnd, StartRequest, finish_and_claim
from lakeworks.store.models import Instance


@dataclass
class _Waiting:
    end: RunEnd
    done: bool = False
    instance: Instance | None = None
    claimed: Instance | None = None
    error: BaseException | None = None

    def outcome(self) -> Instance | None:
        if self.error is not None:
            raise self.error
        return self.instance


class EndWriter:
    """Writes run ends, batching those that arrive while a write is under way."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cond = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._writing = False
        self.batches = 0
        """Transactions written (for the curious: ends per batch = ends / batches)."""
        self._after: dict[int, ClaimRequest | Callable[[], StartRequest | None]] = {}
        self._claimed: dict[int, Instance | None] = {}

    def claim_after(self, request: ClaimRequest) -> None:
        """The next end written from this thread also claims with ``request``."""
        self._after[threading.get_ident()] = request

    def start_after(self, pick: Callable[[], StartRequest | None]) -> None:
        """The next end written from this thread also starts the instance ``pick``
        names when that end is about to be written (``pick`` may name none)."""
        self._after[threading.get_ident()] = pick

    def claimed(self) -> tuple[bool, Instance | None]:
        """Whether this thread's ``claim_after`` (or ``start_after``) was carried out since
        it was asked for, and what it claimed or started (None: nothing); clears both."""
        ident = threading.get_ident()
        self._after.pop(ident, None)
        if ident not in self._claimed:
            return False, None
        return True, self._claimed.pop(ident)

    def finish(self, end: RunEnd) -> Instance | None:
        """Record ``end``; the instance as moved, or None when it was no longer held.

        Raises what the store raised for this end.
        """
        ident = threading.get_ident()
        request = self._after.pop(ident, None)
        if isinstance(request, ClaimRequest):
            end = replace(end, then_claim=request)
        elif request is not None:
            end = replace(end, then_start=request())
        mine = _Waiting(end)
        try:
            return self._finish(mine)
        finally:
            if request is not None and mine.error is None:
                self._claimed[ident] = mine.claimed

    def _finish(self, mine: _Waiting) -> Instance | None:
        with self._cond:
            self._waiting.append(mine)
            while self._writing and not mine.done:
                self._cond.wait()
            if mine.done:
                return mine.outcome()
            self._writing = True
            batch, self._waiting = self._waiting, []
        try:
            self._write(batch)
        finally:
            with self._cond:
                self._writing = False
                for waiting in batch:
                    waiting.done = True
                self._cond.notify_all()
        return mine.outcome()

    def _write(self, batch: Sequence[_Waiting]) -> None:
        self.batches += 1
        try:
            moved = finish_and_claim(self.db, [w.end for w in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            for waiting in batch:  # find the end the store refuses; write the others
                try:
                    waiting.instance, waiting.claimed = finish_and_claim(self.db, [waiting.end])[0]
                except Exception as single:
                    waiting.error = single
            return
        for waiting, (instance, claimed) in zip(batch, moved, strict=True):
            waiting.instance, waiting.claimed = instance, claimed
