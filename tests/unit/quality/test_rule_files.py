"""The quality gate's index of rule files sees every file added, changed or removed."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lakeworks.quality.files import RACY_NS, RuleFileIndex


def _age(folder: Path) -> None:
    """Make a folder look settled (changed well before now)."""
    old = time.time_ns() - 10 * RACY_NS
    os.utime(folder, ns=(old, old))


def test_a_rule_file_added_to_a_settled_folder_is_found(tmp_path: Path) -> None:
    flows = tmp_path / "workflows" / "sales"
    flows.mkdir(parents=True)
    (flows / "orders.sql").write_text("SELECT 1;\n")
    for folder in (tmp_path, tmp_path / "workflows", flows):
        _age(folder)
    index = RuleFileIndex()
    assert index.files(tmp_path) == []
    assert index.files(tmp_path) == []  # reused: nothing changed
    (flows / "orders.quality.yml").write_text("rules: []\n")
    assert index.files(tmp_path) == [flows / "orders.quality.yml"]
    (flows / "orders.quality.yml").unlink()
    assert index.files(tmp_path) == []


def test_a_rule_file_written_while_the_folder_is_changing_is_found(tmp_path: Path) -> None:
    index = RuleFileIndex()
    assert index.files(tmp_path) == []
    (tmp_path / "a.quality.yml").write_text("rules: []\n")  # maybe within the same tick
    assert index.files(tmp_path) == [tmp_path / "a.quality.yml"]
    (tmp_path / "hidden").mkdir()
    (tmp_path / ".lakeworks").mkdir()
    (tmp_path / ".lakeworks" / "x.quality.yml").write_text("rules: []\n")
    (tmp_path / "hidden" / "b.quality.yaml").write_text("rules: []\n")
    assert index.files(tmp_path) == [
        tmp_path / "a.quality.yml",
        tmp_path / "hidden" / "b.quality.yaml",
    ]
