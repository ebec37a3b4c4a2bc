"""Stores for the scheduler tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scheduler.world import (
    World,
    make_world,
    new_schema_url,
    scheduler_pg_database,
)

__all__ = ["scheduler_pg_database"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store: a SQLite file, or a new schema of the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'meta.db'}"
    database: str = request.getfixturevalue("scheduler_pg_database")
    return new_schema_url(database)


WorldFactory = Callable[..., World]


@pytest.fixture
def new_world(store_url: str) -> Iterator[WorldFactory]:
    """``new_world(root, start, **options)``: a world on this test's store, closed after."""
    made: list[World] = []

    def factory(root: Path, start: datetime, **options: Any) -> World:
        world = make_world(root, store_url, start, **options)
        made.append(world)
        return world

    yield factory
    for world in made:
        world.close()
