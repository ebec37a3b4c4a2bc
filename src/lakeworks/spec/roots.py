"""Where a workspace is: the folder holding ``lakeworks.yml`` (no models, no YAML)."""

from __future__ import annotations

from pathlib import Path

from lakeworks.errors import UserError

WORKSPACE_FILE = "lakeworks.yml"


def find_workspace_root(start: Path) -> Path:
    """``start`` itself if it holds ``lakeworks.yml``, else the nearest parent that does."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / WORKSPACE_FILE).is_file():
            return candidate
    raise UserError(
        f"not a Lakeworks workspace: no {WORKSPACE_FILE} in {start} or its parents",
        hint="pass -w DIR, or create one with 'lakeworks init DIR --example sales'",
    )
