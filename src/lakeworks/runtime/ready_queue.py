"""The nodes of a ``lakeworks run`` that may start now, shared by its threads."""

from __future__ import annotations

import heapq
import threading


class ReadyQueue:
    """Node keys ready to run, taken in key order; closing it stops every taker."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._cond = threading.Condition()
        self._closed = False

    def put(self, key: str) -> None:
        with self._cond:
            heapq.heappush(self._keys, key)
            self._cond.notify()

    def take(self) -> str | None:
        """The next key, waiting for one; None once the queue is closed."""
        with self._cond:
            while not self._keys and not self._closed:
                self._cond.wait()
            return None if self._closed else heapq.heappop(self._keys)

    def take_nowait(self) -> str | None:
        """The next key if one is ready now (and the queue is open), else None."""
        with self._cond:
            return heapq.heappop(self._keys) if self._keys and not self._closed else None

    def close(self) -> None:
        """No key is handed out any more; waiting takers get None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
