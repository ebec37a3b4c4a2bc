"""The deploy diff names every deployed kind of file."""

from __future__ import annotations

from lakeworks.deploy.diff import compare, summarize


def test_quality_rule_files_are_listed_apart() -> None:
    old = {"lakeworks.yml": "a", "quality/orders.quality.yml": "r1", "workflows/w/n.sql": "x"}
    new = {
        "lakeworks.yml": "a",
        "quality/orders.quality.yml": "r2",
        "quality/new.quality.yaml": "r3",
        "workflows/w/n.sql": "x",
        "README.md": "docs",
    }
    summary = summarize(compare(new, old))
    assert summary["quality_changed"] == [
        "quality/new.quality.yaml (added)",
        "quality/orders.quality.yml (modified)",
    ]
    assert summary["files_changed"] == ["README.md (added)"]
    assert summary["changes"] == 3
