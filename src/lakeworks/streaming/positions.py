"""Stream positions and quarantined messages, kept in the warehouse itself.

Both tables live in the engine's ``lakeworks_meta`` schema and are written in the SAME
transaction as the rows they account for: after a crash the stored position is exactly
where the committed rows end, so nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from lakeworks.engines.base import Engine, Session
from lakeworks.engines.duckdb_engine import META_SCHEMA

POSITIONS = f"{META_SCHEMA}.stream_positions"
QUARANTINE = f"{META_SCHEMA}.stream_quarantine"


@dataclass(frozen=True)
class QuarantinedMessage:
    """A message that could not become a row: where it was and why."""

    source: str
    """``topic[partition]``."""
    offset: int
    reason: str
    payload: str


def ensure_tables(session: Session) -> None:
    """Create the position and quarantine tables when missing."""
    session.execute(f"CREATE SCHEMA IF NOT EXISTS {META_SCHEMA}")
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {POSITIONS} (node_key VARCHAR NOT NULL, "
        "source VARCHAR NOT NULL, position VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL, "
        "PRIMARY KEY (node_key, source))"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {QUARANTINE} (node_key VARCHAR NOT NULL, "
        'source VARCHAR NOT NULL, "offset" BIGINT NOT NULL, reason VARCHAR NOT NULL, '
        "payload VARCHAR, quarantined_at TIMESTAMP NOT NULL)"
    )


def load_positions(engine: Engine, node_key: str) -> dict[str, int]:
    """The committed position of every ``topic[partition]`` of a stream node."""
    with engine.transaction() as session:
        ensure_tables(session)
        rows = session.execute(
            f"SELECT source, position FROM {POSITIONS} WHERE node_key = ?", [node_key]
        ).rows
    return {str(source): int(str(position)) for source, position in rows}


def dirty_total(engine: Engine, node_key: str) -> int:
    """How many messages of a stream node are in quarantine."""
    with engine.transaction() as session:
        ensure_tables(session)
        rows = session.execute(
            f"SELECT count(*) FROM {QUARANTINE} WHERE node_key = ?", [node_key]
        ).rows
    return int(str(rows[0][0]))


def save_positions(
    session: Session, node_key: str, positions: dict[str, int], now: datetime
) -> None:
    """Record positions inside the caller's transaction (the one writing the rows)."""
    for source, position in positions.items():
        session.execute(
            f"INSERT OR REPLACE INTO {POSITIONS} VALUES (?, ?, ?, ?)",
            [node_key, source, str(position), now],
        )


def save_quarantine(
    session: Session, node_key: str, messages: list[QuarantinedMessage], now: datetime
) -> None:
    """Record quarantined messages inside the caller's transaction."""
    for m in messages:
        session.execute(
            f"INSERT INTO {QUARANTINE} VALUES (?, ?, ?, ?, ?, ?)",
            [node_key, m.source, m.offset, m.reason, m.payload, now],
        )


def quarantined(engine: Engine, node_key: str, limit: int) -> list[QuarantinedMessage]:
    """The first quarantined messages of a stream node, oldest first."""
    with engine.transaction() as session:
        ensure_tables(session)
        rows = session.execute(
            f'SELECT source, "offset", reason, payload FROM {QUARANTINE} WHERE node_key = ? '
            'ORDER BY quarantined_at, source, "offset" LIMIT ?',
            [node_key, limit],
        ).rows
    return [QuarantinedMessage(str(s), int(str(o)), str(r), str(p)) for s, o, r, p in rows]


def reset_positions(engine: Engine, node_key: str) -> dict[str, int]:
    """Forget a stream node's positions (it starts again per its ``start``); returns
    what was forgotten."""
    before = load_positions(engine, node_key)
    with engine.transaction() as session:
        session.execute(f"DELETE FROM {POSITIONS} WHERE node_key = ?", [node_key])
    return before


def positions_text(positions: dict[str, int]) -> str:
    """Positions as JSON text, for status displays."""
    return json.dumps(dict(sorted(positions.items())))
