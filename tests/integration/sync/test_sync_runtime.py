"""How a sync run ends: retries, interrupts and dirty-data limits, each recorded as a run."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from lakeworks.errors import TransientError
from lakeworks.integration.pipeline import DirtyLimitExceeded
from tests.integration.sync.world import SyncWorld


def _numbers(world: SyncWorld, count: int = 100) -> None:
    conn = sqlite3.connect(world.root / "nums.db")
    conn.execute("CREATE TABLE nums (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO nums VALUES (?, ?)", [(i, str(i)) for i in range(1, count + 1)])
    conn.commit()
    conn.close()
    world.add_source("nums", {"type": "sqlite", "path": "nums.db"})


def test_transient_failure_looking_up_the_split_range_is_retried_and_recorded(
    world: SyncWorld,
) -> None:
    _numbers(world)
    world.node(
        "split",
        {
            "source": {"data_source": "nums", "table": "nums", "split_key": "id", "parallel": 2},
            "target": {"table": "split_t", "mode": "overwrite"},
        },
    )
    lookups: list[str] = []

    def flaky(source: Any) -> None:
        real = source.key_range

        def key_range(request: Any, column: str) -> Any:
            lookups.append(column)
            if len(lookups) == 1:
                raise TransientError("the key range lookup timed out")
            return real(request, column)

        source.key_range = key_range

    result = world.run("split", on_source=flaky)
    assert lookups == ["id", "id"]
    assert (result.attempts, result.rows_written) == (2, 100)
    assert world.query("SELECT count(*) FROM split_t") == [(100,)]
    done, failed = world.state().runs("wf.split")
    assert done.state == "success"
    assert failed.state == "failed" and failed.finished_at is not None
    assert "the key range lookup timed out" in (failed.error or "")
    assert any(line.startswith("transient failure, retrying (1/2)") for line in world.log)


def test_the_last_attempt_says_it_gave_up(world: SyncWorld) -> None:
    # nothing listens on port 1: every connection fails at once, transiently
    world.add_source("down", {"type": "postgres", "database": "test", "port": 1})
    world.node(
        "down",
        {
            "source": {"data_source": "down", "table": "t", "split_key": "id", "parallel": 2},
            "target": {"table": "down_t"},
            "retries": 1,
        },
    )
    with pytest.raises(TransientError) as info:
        world.run("down")
    shown = info.value.render()
    assert "gave up after 2 attempts" in shown
    assert "is retried" not in shown
    last, first = world.state().runs("wf.down")
    assert (last.state, first.state) == ("failed", "failed")
    assert "gave up after 2 attempts" in (last.error or "")
    assert "the sync is retried" in (first.error or "")

    world.node(
        "once",
        {"source": {"data_source": "down", "table": "t"}, "target": {"table": "t"}, "retries": 0},
    )
    with pytest.raises(TransientError) as once:
        world.run("once")
    assert "not retried (retries: 0)" in once.value.render()


def _interruptible(world: SyncWorld) -> dict[str, Any]:
    _numbers(world, 1000)
    spec = {
        "source": {"data_source": "nums", "table": "nums"},
        "target": {"table": "int_t", "mode": "overwrite"},
        "batch_rows": 100,
    }
    world.node("int", {**spec, "source": {**spec["source"], "where": "id <= 10"}})
    world.run("int")
    world.node("int", spec)
    return spec


def _closed_as_interrupted(world: SyncWorld) -> None:
    last = world.state().runs("wf.int")[0]
    assert last.state == "stopped"
    assert last.finished_at is not None
    assert "interrupted" in (last.error or "")
    # the data rolled back: the previous run's rows are still the table
    assert world.query("SELECT count(*) FROM int_t") == [(10,)]


def test_an_interrupt_from_a_listener_closes_the_run(world: SyncWorld) -> None:
    spec = _interruptible(world)
    # 500 rows/s: listeners hear of the copy at its start and a second later, mid-write
    world.node("int", {**spec, "speed": {"rows_per_second": 500}})

    def interrupt(snapshot: Any) -> None:
        if snapshot.rows >= 200:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        world.run("int", listeners=[interrupt])
    _closed_as_interrupted(world)


def test_an_interrupt_in_the_source_closes_the_run(world: SyncWorld) -> None:
    _interruptible(world)

    def interrupting(source: Any) -> None:
        real = source.read

        def read(request: Any) -> Any:
            for number, item in enumerate(real(request)):
                if number == 3:
                    raise KeyboardInterrupt
                yield item

        source.read = read

    with pytest.raises(KeyboardInterrupt):
        world.run("int", on_source=interrupting)
    _closed_as_interrupted(world)


def _tenth_dirty(world: SyncWorld, dirty: dict[str, Any], count: int = 100) -> None:
    """``count`` rows, every tenth not a number: 10 % dirty, one in each batch of 10."""
    conn = sqlite3.connect(world.root / "tenth.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    rows = [(i, "bad" if i % 10 == 0 else str(i)) for i in range(1, count + 1)]
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    world.add_source("tenth", {"type": "sqlite", "path": "tenth.db"})
    world.node(
        "tenth",
        {
            "source": {"data_source": "tenth", "table": "t"},
            "target": {"table": "tenth_t", "mode": "overwrite"},
            "columns": ["id", {"source": "v", "type": "bigint"}],
            "dirty": dirty,
            "batch_rows": 10,
        },
    )


@pytest.mark.parametrize(
    ("dirty", "error", "rows_read"),
    [
        # neither limit: no dirty row allowed, failing at the first
        ({}, "1 dirty rows exceed the limit of 0; nothing was written", 10),
        # a count limit fails as soon as the count exceeds it
        ({"max_rows": 5}, "6 dirty rows exceed the limit of 5; nothing was written", 60),
        ({"max_rows": 10}, None, 100),
        # a ratio limit is checked at the end, over all rows read
        ({"max_ratio": 0.05}, r"10 dirty rows \(10.00% of 100\) exceed the limit of 5.00%", 100),
        ({"max_ratio": 0.1}, None, 100),
        # both: either one fails the run
        ({"max_rows": 100, "max_ratio": 0.05}, r"\(10.00% of 100\) exceed the limit of 5.00%", 100),
        ({"max_rows": 5, "max_ratio": 0.5}, "6 dirty rows exceed the limit of 5", 60),
        ({"max_rows": 10, "max_ratio": 0.1}, None, 100),
    ],
)
def test_dirty_limits_fail_when_either_is_exceeded(
    world: SyncWorld, dirty: dict[str, Any], error: str | None, rows_read: int
) -> None:
    _tenth_dirty(world, dirty)
    if error is None:
        result = world.run("tenth")
        assert (result.rows_written, result.rows_dirty) == (90, 10)
    else:
        with pytest.raises(DirtyLimitExceeded, match=error):
            world.run("tenth")
        assert not world.engine.table_exists("tenth_t")
    last = world.state().runs("wf.tenth")[0]
    assert last.rows_read == rows_read


def test_a_ratio_limit_holds_when_every_row_is_dirty(world: SyncWorld) -> None:
    _tenth_dirty(world, {"max_ratio": 0.5}, count=10)
    world.node(
        "tenth",
        {
            "source": {"data_source": "tenth", "table": "t", "where": "v = 'bad'"},
            "target": {"table": "tenth_t", "mode": "overwrite"},
            "columns": ["id", {"source": "v", "type": "bigint"}],
            "dirty": {"max_ratio": 0.5},
        },
    )
    with pytest.raises(DirtyLimitExceeded, match=r"1 dirty rows \(100.00% of 1\)"):
        world.run("tenth")
