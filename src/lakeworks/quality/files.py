"""Finding a workspace's quality rule files (light: the run path asks for every node)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

RULE_FILE_SUFFIXES = (".quality.yml", ".quality.yaml")
RACY_NS = 2_000_000_000
"""A folder changed this recently when it was listed may change again without its
modification time moving (the clock ticks coarsely): its listing is not reused. This is
the window of file systems that keep whole (or two) seconds (FAT, HFS+, some network
file systems): their time stamps have no sub-second part."""
FINE_RACY_NS = 100_000_000
"""The same window where time stamps have a sub-second part: the kernel stamps files
from a clock that ticks every 1-10 ms."""


def find_rule_files(root: Path) -> list[Path]:
    """Every rule file under ``root``, in path order. Hidden folders (``.lakeworks``,
    ``.git``, ``.venv``) are not entered."""
    return list(_scan(root)[1])


def _scan(root: Path) -> tuple[tuple[tuple[str, int], ...], tuple[Path, ...]]:
    """(folder, modification time) of every folder walked, and the rule files found."""
    folders: list[tuple[str, int]] = []
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        folders.append((folder, _mtime(folder)))
        found.extend(Path(folder) / f for f in files if f.endswith(RULE_FILE_SUFFIXES))
    return tuple(folders), tuple(sorted(found))


def _racy_window(stamp: int) -> int:
    """How long after ``stamp`` its folder may still change unseen (see ``RACY_NS``)."""
    return RACY_NS if stamp % 1_000_000_000 == 0 else FINE_RACY_NS


def _mtime(folder: str) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return -1


class RuleFileIndex:
    """The rule files of workspaces, listed again only when one of their folders changed.

    Adding, removing or renaming a file changes its folder's modification time, so a
    look-up costs one ``stat`` per folder instead of a walk over every file (the quality
    gate asks once per node run, and a walk per node made large runs quadratic). A
    listing taken while a folder was changing (``RACY_NS``) is taken again next time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[tuple[tuple[str, int], ...], tuple[Path, ...]]] = {}

    def files(self, root: Path) -> list[Path]:
        with self._lock:
            cached = self._entries.get(root)
        if cached is not None and all(_mtime(f) == stamp for f, stamp in cached[0]):
            return list(cached[1])
        listed_at = time.time_ns()
        folders, files = _scan(root)
        settled = all(listed_at - stamp > _racy_window(stamp) for _, stamp in folders)
        with self._lock:
            if settled:
                self._entries[root] = (folders, files)
            else:
                self._entries.pop(root, None)
        return list(files)


rule_files = RuleFileIndex()
"""The process's index of rule files."""
