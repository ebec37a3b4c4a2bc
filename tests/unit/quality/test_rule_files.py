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


def test_a_listing_is_reused_once_the_folders_settled_on_a_fine_clock(tmp_path: Path) -> None:
    (tmp_path / "a.quality.yml").write_text("rules: []\n")
    time.sleep(0.25)  # past the window of a clock with sub-second stamps
    index = RuleFileIndex()
    assert index.files(tmp_path) == [tmp_path / "a.quality.yml"]
    # a change that leaves the folder's time stamp as it was is not seen: proof of reuse
    stamp = os.stat(tmp_path).st_mtime_ns
    (tmp_path / "b.quality.yml").write_text("rules: []\n")
    os.utime(tmp_path, ns=(stamp, stamp))
    assert index.files(tmp_path) == [tmp_path / "a.quality.yml"]


def test_whole_second_stamps_keep_the_long_window(tmp_path: Path) -> None:
    whole = (time.time_ns() // 1_000_000_000 - 1) * 1_000_000_000  # 1 s ago, no fraction
    os.utime(tmp_path, ns=(whole, whole))
    index = RuleFileIndex()
    assert index.files(tmp_path) == []
    (tmp_path / "a.quality.yml").write_text("rules: []\n")
    os.utime(tmp_path, ns=(whole, whole))  # a coarse file system could show just this
    assert index.files(tmp_path) == [tmp_path / "a.quality.yml"]
