"""How the store keeps time: every datetime is UTC-naive.

A naive datetime given to the store is taken to be UTC already; an aware one is
converted to UTC and its zone dropped. Datetimes come back naive (UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time as a UTC-naive datetime."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_utc_naive(value: datetime) -> datetime:
    """``value`` as a UTC-naive datetime (aware values are converted to UTC)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def optional_utc_naive(value: datetime | None) -> datetime | None:
    """Like ``to_utc_naive`` but passes ``None`` through."""
    return None if value is None else to_utc_naive(value)
