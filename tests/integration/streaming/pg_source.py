"""A throwaway schema of the local PostgreSQL for CDC streams, and its fixture."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.services import require_postgres


class Source:
    """A throwaway schema of the ``test`` database; its slot and publication are
    dropped afterwards (a leftover slot would hold WAL on the server for ever)."""

    def __init__(self) -> None:
        require_postgres()
        self.schema = f"lw_cdc_{uuid.uuid4().hex[:10]}"
        self.slot = self.schema
        self.conn = psycopg.connect("host=127.0.0.1 dbname=test user=postgres", autocommit=True)
        self.conn.execute(f"CREATE SCHEMA {self.schema}")

    def sql(self, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(statement.replace("S.", f"{self.schema}."), params)
        return cursor.fetchall() if cursor.description else []

    def slot_row(self) -> tuple[Any, ...] | None:
        rows = self.sql(
            "SELECT confirmed_flush_lsn::text, active FROM pg_replication_slots "
            "WHERE slot_name = %s",
            [self.slot],
        )
        return rows[0] if rows else None

    def drop(self) -> None:
        """Drop the slot (ending a session that still holds it after 30 s), the
        publication and the schema — whatever the test left behind."""
        try:
            deadline = time.monotonic() + 30
            while (found := self.slot_row()) is not None:
                if found[1] and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                if found[1]:
                    assert time.monotonic() < deadline + 30, "the slot stayed in use"
                    self.sql(
                        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                        "WHERE slot_name = %s",
                        [self.slot],
                    )
                    time.sleep(1)
                    continue
                self.sql("SELECT pg_drop_replication_slot(%s)", [self.slot])
        finally:
            self.sql(f"DROP PUBLICATION IF EXISTS {self.slot}")
            self.sql(f"DROP SCHEMA {self.schema} CASCADE")
            self.conn.close()


@pytest.fixture
def source() -> Iterator[Source]:
    """A schema with a slot name of its own; both dropped afterwards."""
    found = Source()
    try:
        yield found
    finally:
        found.drop()
