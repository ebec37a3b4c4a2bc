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
        deadline = time.monotonic() + 30
        while (found := self.slot_row()) is not None:
            if not found[1]:
                self.sql("SELECT pg_drop_replication_slot(%s)", [self.slot])
                break
            assert time.monotonic() < deadline, "the slot stayed in use"
            time.sleep(0.2)
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
