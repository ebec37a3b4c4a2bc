"""Regenerating the SQLite schema snapshot (``store.snapshot``) from the migrations.

python -m lakeworks.store.snapshot_build
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from lakeworks.store.database import Database
from lakeworks.store.snapshot import SNAPSHOT, dump_schema


def migrated_schema() -> str:
    """Run the shipped migrations on an empty SQLite file and dump the result."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "meta.db"
        with Database.open(f"sqlite:///{path}", snapshot=False):
            pass
        raw = sqlite3.connect(path)
        try:
            return dump_schema(raw)
        finally:
            raw.close()


def main() -> None:
    """Regenerate the shipped snapshot from the migrations."""
    SNAPSHOT.write_text(migrated_schema(), encoding="utf-8")
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    main()
