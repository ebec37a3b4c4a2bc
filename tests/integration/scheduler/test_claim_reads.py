"""A claim reads the few queued instances it takes, however long the queue is and
whatever the database's statistics say about it (a backfill queues thousands at once,
long after the statistics were taken)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from lakeworks.store.claims import ClaimRequest, claim_on
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState as S
from lakeworks.store.models import NewInstance
from lakeworks.store.repositories import InstanceRepository
from lakeworks.store.schema import instances

NOW = datetime(2026, 4, 10, 2, 0)
QUEUE = 2000
LIMIT = 4


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    with Database.open(store_url) as database:
        yield database


def _queue_after_statistics(db: Database) -> None:
    """2,000 instances, analysed while none was queued, then all queued."""
    InstanceRepository(db).create_many(
        [
            NewInstance(
                workspace="ws",
                env="prod",
                node_key=f"flow.n{i % 50}",
                cycle_time=NOW + timedelta(minutes=i // 50),
                bizdate="20260409",
                state=S.NOT_RUN,
            )
            for i in range(QUEUE)
        ]
    )
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.execute(sa.update(instances).values(state=S.WAITING_RESOURCES.value))


def _claim_statements(db: Database) -> list[tuple[str, Any]]:
    """The statements of one claim of ``LIMIT`` instances, as sent to the database."""
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    request = ClaimRequest(
        worker="w1", lease_seconds=30, group="default", workspace="ws", env="prod", now=NOW
    )
    with db.write() as conn:
        sa.event.listen(conn, "before_cursor_execute", capture)
        taken = claim_on(conn, request, LIMIT)
        sa.event.remove(conn, "before_cursor_execute", capture)
        conn.rollback()
    assert len(taken) == LIMIT
    return sent


def _postgres_rows_read(conn: sa.Connection, statement: str, parameters: Any) -> int:
    """The most rows any scan of ``instances`` in the statement's executed plan read."""
    plan = conn.exec_driver_sql(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
    ).scalar_one()
    document = plan if isinstance(plan, list) else json.loads(plan)
    most = 0
    stack = [document[0]["Plan"]]
    while stack:
        node = stack.pop()
        if node.get("Relation Name") == "instances":
            most = max(most, node["Actual Rows"] * node["Actual Loops"])
        stack.extend(node.get("Plans", []))
    return most


def test_a_claim_reads_only_what_it_takes_from_a_long_queue(db: Database) -> None:
    _queue_after_statistics(db)
    sent = _claim_statements(db)
    with db.write() as conn:
        if conn.dialect.name == "postgresql":
            claim = next(s for s in sent if "FOR UPDATE" in s[0])
            read = _postgres_rows_read(conn, claim[0], claim[1])
            assert read <= 2 * LIMIT, f"a claim of {LIMIT} read {read} queued rows"
        else:
            pick = next(s for s in sent if s[0].lstrip().upper().startswith("SELECT"))
            plan = [
                row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + pick[0], pick[1])
            ]
            assert any("ix_instances_queue" in step for step in plan), plan
            assert not any("TEMP B-TREE" in step for step in plan), plan
        conn.rollback()


@pytest.mark.parametrize(
    "store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_claim_plans_once_without_changing_how_other_statements_are_planned(
    db: Database,
) -> None:
    """On PostgreSQL the claim's plan is made once for any values; every other statement,
    on the same connection too, keeps a plan for its own values."""
    _queue_after_statistics(db)
    request = ClaimRequest(
        worker="w1", lease_seconds=30, group="default", workspace="ws", env="prod", now=NOW
    )
    with db.write() as conn:
        taken = claim_on(conn, request, LIMIT)
        during = conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
    with db.write() as conn:
        after = conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one()
    assert len(taken) == LIMIT
    assert (during, after) == ("force_generic_plan", "force_custom_plan")
