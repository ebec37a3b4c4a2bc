"""Where a workspace's metadata store is (no database driver is loaded here)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATABASE_URL = "LAKEWORKS_DATABASE_URL"


def default_database_url(state_dir: Path) -> str:
    """``LAKEWORKS_DATABASE_URL`` if set, else a SQLite file ``<state_dir>/meta.db``.

    The state folder is created when the SQLite default is used.
    """
    url = os.environ.get(ENV_DATABASE_URL, "").strip()
    if url:
        return url
    state_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state_dir.resolve() / 'meta.db'}"


def new_default_store(state_dir: Path) -> bool:
    """Whether the store is the default SQLite file and it does not exist yet."""
    return not os.environ.get(ENV_DATABASE_URL, "").strip() and not (state_dir / "meta.db").exists()
