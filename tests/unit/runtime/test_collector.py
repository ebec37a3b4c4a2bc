"""The collector pause of a run's start-up never outlives the start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from lakeworks.runtime.collector import exempt_long_lived, startup_paused


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    gc.enable()


def test_the_start_up_runs_without_collections_and_the_collector_is_back_after() -> None:
    with startup_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_failed_start_up_gives_the_collector_back() -> None:
    with pytest.raises(RuntimeError), startup_paused():
        raise RuntimeError("bad workspace")
    assert gc.isenabled()


def test_the_run_proper_is_collected_once_the_start_up_is_exempt() -> None:
    with startup_paused():
        exempt_long_lived()
        assert gc.isenabled()
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off() -> None:
    gc.disable()
    with startup_paused():
        exempt_long_lived()
    assert not gc.isenabled()
