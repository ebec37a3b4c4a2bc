"""Business dates as users type them on the command line and in API calls."""

from __future__ import annotations

from datetime import date

import pytest

from lakeworks.errors import UserError
from lakeworks.schedule.bizdates import parse_bizdate


@pytest.mark.parametrize("text", ["20260411", "2026-04-11"])
def test_both_spellings_name_the_same_day(text: str) -> None:
    assert parse_bizdate(text) == date(2026, 4, 11)


@pytest.mark.parametrize("text", ["2026-04-31", "20261341", "yesterday", ""])
def test_a_date_that_is_not_one_is_refused_with_the_form_to_use(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_bizdate(text)
    assert f"invalid business date '{text}'" in caught.value.render()
    assert "YYYYMMDD" in caught.value.render()
