"""Which turn a DuckDB catalog change takes: its object's, or every one."""

from __future__ import annotations

import threading

import pytest

from lakeworks.engines.catalog_locks import CatalogLocks, changed_object, changes_catalog


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("CREATE TABLE t_1 AS SELECT 1 AS k", "t_1"),
        ("create or replace table main.Orders as select 1", "orders"),
        ('CREATE TABLE IF NOT EXISTS "My ""Odd"" Table" (k INT)', 'my "odd" table'),
        ("  (CREATE TEMP TABLE scratch (k INT))", "scratch"),
        ("DROP TABLE IF EXISTS dw.fact_sales", "fact_sales"),
        ("DROP VIEW v_orders", "v_orders"),
        ("ALTER TABLE dw.t ADD COLUMN c INT", "t"),
        ("COMMENT ON TABLE dw.orders IS 'x'", "orders"),
        ("COMMENT ON COLUMN dw.orders.amount IS 'x'", "orders"),
        ("CREATE SEQUENCE IF NOT EXISTS ids", "ids"),
    ],
)
def test_a_change_of_a_named_object_takes_that_names_turn(sql: str, name: str) -> None:
    assert changes_catalog(sql)
    assert changed_object(sql) == name


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE SCHEMA IF NOT EXISTS lakeworks_meta",
        "DROP SCHEMA dw CASCADE",
        "CREATE UNIQUE INDEX ix ON t (k)",
        "CREATE INDEX ix ON t (k)",
        "ALTER something odd",
    ],
)
def test_a_schema_an_index_or_an_unknown_change_takes_every_turn(sql: str) -> None:
    assert changes_catalog(sql)
    assert changed_object(sql) is None


def test_queries_and_writes_take_no_turn() -> None:
    locks = CatalogLocks()
    for sql in ("SELECT 1", "INSERT INTO t VALUES (1)", "  with x as (select 1) select * from x"):
        assert not changes_catalog(sql)
        with locks.for_statement(sql):
            pass


def test_a_change_of_every_turn_waits_for_a_named_change() -> None:
    locks = CatalogLocks()
    holding, entered = threading.Event(), threading.Event()
    release = threading.Event()

    def named() -> None:
        with locks.for_statement("CREATE TABLE a AS SELECT 1"):
            holding.set()
            release.wait(5)

    def every() -> None:
        with locks.for_statement("CREATE SCHEMA s"):
            entered.set()

    first = threading.Thread(target=named)
    first.start()
    assert holding.wait(5)
    second = threading.Thread(target=every)
    second.start()
    assert not entered.wait(0.2)  # still held by the change of table a
    release.set()
    assert entered.wait(5)
    first.join()
    second.join()


def test_changes_of_two_different_objects_hold_their_turns_at_once() -> None:
    locks = CatalogLocks()
    names = [f"t_{i}" for i in range(200)]
    first = next(n for n in names if locks.named(n) is not locks.named("t_0") and n != "t_0")
    with locks.for_statement("CREATE TABLE t_0 AS SELECT 1"):
        got = threading.Event()

        def other() -> None:
            with locks.for_statement(f"CREATE TABLE {first} AS SELECT 1"):
                got.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert got.wait(5)
        thread.join()
