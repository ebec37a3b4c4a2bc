"""Snapshots of a workspace folder: the files a deployment carries, as text.

Every non-hidden file under the workspace folder is taken (``lakeworks.yml``,
``workflows/…``, rule files, resources) as long as it is UTF-8 text of at most
``MAX_FILE_BYTES``; others are left out with a warning. ``materialize`` writes a
snapshot back into a folder atomically (a temporary sibling renamed into place), so
a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lakeworks.errors import UserError

MAX_FILE_BYTES = 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
WORKSPACE_FILE = "lakeworks.yml"


def content_hash(text: str) -> str:
    """The SHA-256 (hex) a file's content is stored under."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """Files by relative POSIX path, and the warnings collecting them produced."""

    files: Mapping[str, str]
    warnings: tuple[str, ...] = field(default=())

    def hashes(self) -> dict[str, str]:
        return {path: content_hash(text) for path, text in self.files.items()}


def _check_relative(path: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise UserError(f"invalid file path in a deployment: {path!r}")
    return pure.as_posix()


def snapshot_folder(root: Path) -> Snapshot:
    """The deployable files of the workspace folder at ``root``."""
    root = root.resolve()
    if not (root / WORKSPACE_FILE).is_file():
        raise UserError(
            f"not a Lakeworks workspace: {root / WORKSPACE_FILE} does not exist",
            hint="deploy a folder that holds lakeworks.yml",
        )
    files: dict[str, str] = {}
    warnings: list[str] = []
    total = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                warnings.append(f"{relative}: left out ({size} bytes, more than {MAX_FILE_BYTES})")
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                warnings.append(f"{relative}: left out (not UTF-8 text)")
                continue
            total += size
            if total > MAX_TOTAL_BYTES:
                raise UserError(
                    f"the workspace folder holds more than {MAX_TOTAL_BYTES} bytes of files",
                    hint="keep data out of the workspace folder",
                )
            files[relative] = text
    return Snapshot(files, tuple(warnings))


def write_files(folder: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` under ``folder`` (which must exist)."""
    for relative, text in files.items():
        target = folder / _check_relative(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def materialize(files: Mapping[str, str], target: Path) -> Path:
    """``files`` written into ``target`` (created atomically; kept if it exists)."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write_files(staging, files)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # another process won the race: use theirs
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
