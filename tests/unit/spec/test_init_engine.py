"""``lakeworks init --engine``: the example's default engine becomes Spark."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import UserError
from lakeworks.spec.init import init_workspace
from lakeworks.spec.loader import load_workspace


def test_sales_example_on_spark(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", "sales", engine="spark")
    workspace = load_workspace(tmp_path / "ws")
    engine = workspace.config.engines["default"]
    assert engine.type == "spark"
    assert engine.options == {"master": "local[*]"}


def test_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown engine 'oracle'"):
        init_workspace(tmp_path / "ws", "sales", engine="oracle")
    assert not (tmp_path / "ws").exists()
