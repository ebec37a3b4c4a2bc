"""What a deployment changes: files added, modified, removed, and the nodes behind them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lakeworks.deploy.models import FileChange
from lakeworks.quality.files import RULE_FILE_SUFFIXES


@dataclass(frozen=True)
class FileDiff:
    path: str
    change: FileChange
    new_hash: str | None
    old_hash: str | None
    node_key: str | None


SUMMARY_KEYS = (
    "nodes_added",
    "nodes_modified",
    "nodes_removed",
    "settings_changed",
    "quality_changed",
    "files_changed",
)
"""The lists of a deployment summary, in the order they are shown."""


def node_key_of(path: str) -> str | None:
    """``workflow.node`` for a node file (``workflows/<wf>/<node>.sql`` …), else None."""
    from lakeworks.spec.loader import node_kind_and_name

    parts = PurePosixPath(path).parts
    if len(parts) != 3 or parts[0] != "workflows":
        return None
    found = node_kind_and_name(Path(path))
    return None if found is None else f"{parts[1]}.{found[1]}"


def compare(new: Mapping[str, str], old: Mapping[str, str]) -> list[FileDiff]:
    """Every path of either side with its change; both map paths to content hashes."""
    diffs: list[FileDiff] = []
    for path in sorted(set(new) | set(old)):
        new_hash, old_hash = new.get(path), old.get(path)
        if old_hash is None:
            change = FileChange.ADDED
        elif new_hash is None:
            change = FileChange.REMOVED
        elif new_hash != old_hash:
            change = FileChange.MODIFIED
        else:
            change = FileChange.UNCHANGED
        diffs.append(FileDiff(path, change, new_hash, old_hash, node_key_of(path)))
    return diffs


def summarize(diffs: list[FileDiff]) -> dict[str, Any]:
    """Counts and names: nodes added/modified/removed, settings and other files changed."""
    summary: dict[str, Any] = {
        "nodes_added": [],
        "nodes_modified": [],
        "nodes_removed": [],
        "settings_changed": [],
        "quality_changed": [],
        "files_changed": [],
        "unchanged_files": 0,
    }
    for item in diffs:
        if item.change is FileChange.UNCHANGED:
            summary["unchanged_files"] += 1
            continue
        if item.node_key is not None:
            summary[f"nodes_{item.change.value}"].append(item.node_key)
        elif item.path == "lakeworks.yml" or item.path.endswith("/workflow.yml"):
            summary["settings_changed"].append(f"{item.path} ({item.change.value})")
        elif item.path.endswith(RULE_FILE_SUFFIXES):
            summary["quality_changed"].append(f"{item.path} ({item.change.value})")
        else:
            summary["files_changed"].append(f"{item.path} ({item.change.value})")
    summary["changes"] = sum(
        len(summary[k])
        for k in (
            "nodes_added",
            "nodes_modified",
            "nodes_removed",
            "settings_changed",
            "quality_changed",
            "files_changed",
        )
    )
    return summary


def unified(path: str, old: str | None, new: str | None) -> str:
    """A unified diff of one file (``/dev/null`` for a missing side)."""
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile=f"prod/{path}" if old is not None else "/dev/null",
        tofile=f"deploy/{path}" if new is not None else "/dev/null",
    )
    return "".join(lines)
