"""Business dates as users write them."""

from __future__ import annotations

from datetime import date, datetime

from lakeworks.errors import UserError


def parse_bizdate(text: str) -> date:
    """A business date given as YYYYMMDD or YYYY-MM-DD."""
    cleaned = text.replace("-", "")
    try:
        return datetime.strptime(cleaned, "%Y%m%d").date()
    except ValueError:
        raise UserError(
            f"invalid business date '{text}'", hint="write it as YYYYMMDD, e.g. 20260411"
        ) from None
