"""The cyclic garbage collector in a process that runs once and then exits.

``lakeworks run`` keeps the imported modules, the workspace and its parsed SQL alive
until the process ends, and every full collection scanned them again: at 1,000 nodes
about seven full collections of ~0.15 s CPU each during the run, and one more at exit.
``exempt_long_lived`` moves what is alive now out of the collector's way
(``gc.freeze``); objects created afterwards are collected as before, a little less
often. Only for a process that ends after its run: a service would keep whatever was
frozen (garbage included) until it stops.

The start-up before that (importing the run's modules, loading the workspace, opening
the store and the warehouse) creates almost only objects that live until the exit, and
the collections it triggered scanned the growing heap of modules again and again
(~10% of a small run's CPU). ``startup_paused`` runs it without collections; the first
``exempt_long_lived`` inside ends the pause.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 5000
"""Allocations between two collections of the youngest generation (Python's default: 700)."""

_paused: list[bool] = []
"""One entry per ``startup_paused`` block still pausing the collector (at most one)."""


@contextmanager
def startup_paused() -> Iterator[None]:
    """Pause the collector for the block, or until ``exempt_long_lived`` is called in it.

    Whatever happens in the block, the collector is as it was when the block ends.
    """
    if not gc.isenabled() or _paused:
        yield  # already paused (by the caller or an outer block): nothing to undo
        return
    gc.disable()
    _paused.append(True)
    try:
        yield
    finally:
        if _paused:
            _paused.clear()
            gc.enable()


def exempt_long_lived() -> None:
    """Exclude every object alive now from later collections; collect the young less often.

    Ends a ``startup_paused`` pause: what the start-up made is exempt from now on.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(max(YOUNG_THRESHOLD, gc.get_threshold()[0]), middle, old)
    if _paused:
        _paused.clear()
        gc.enable()
