"""Editing the dev workspace folder safely: validate first, write atomically.

The folder is dev's source of truth and must stay loadable. A change (files written or
removed) is applied to a copy of the folder's files and validated as a whole workspace
(settings, nodes, dependency graph, quality rules, data sources); only when that
passes are the files written, each through a temporary file renamed into place, so a
reader never sees half a file. Optional expected hashes make edits optimistic: a file
changed by someone else since it was read is a ``Conflict``.

Validation (the slow part) runs without the workspace's lock; the lock is held only to
check that the folder is still what was validated and to write, and a caller waits
for it at most ``LOCK_WAIT_SECONDS`` (then ``TransientError``: try again).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from lakeworks.deploy.snapshot import content_hash, snapshot_folder
from lakeworks.deploy.validate import check_workspace
from lakeworks.errors import Conflict, Location, TransientError, UserError, ValidationFailed
from lakeworks.spec.loader import check_node_size, is_valid_name

LOCK_WAIT_SECONDS = 10.0
_ATTEMPTS = 3

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(root: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(root, threading.Lock())


def editable_path(path: str) -> str:
    """``path`` if the API may write it (``lakeworks.yml`` or a file under
    ``workflows/<workflow>/``), else ``UserError``."""
    pure = PurePosixPath(path)
    parts = pure.parts
    if (
        ".." in parts
        or pure.is_absolute()
        or any(p.startswith(".") for p in parts)
        or any(ord(c) < 32 or c == "\x7f" for c in path)
    ):
        raise UserError(f"invalid path {path!r}")
    if parts == ("lakeworks.yml",) or (
        len(parts) == 3 and parts[0] == "workflows" and is_valid_name(parts[1])
    ):
        return pure.as_posix()
    raise UserError(
        f"the API does not edit {path!r}",
        hint="it edits lakeworks.yml and files in workflows/<workflow>/",
    )


def atomic_write(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o777)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_expected(current: Mapping[str, str], expected: Mapping[str, str | None]) -> None:
    for path, wanted in expected.items():
        actual = content_hash(current[path]) if path in current else None
        if actual != wanted:
            raise Conflict(
                f"{path} changed since it was read"
                if wanted is not None
                else f"{path} exists already",
                hint="read it again and redo the change",
            )


class WorkspaceEditor:
    """Validated, atomic edits of one workspace folder."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def read(self, path: str) -> tuple[str, str]:
        """The text of a file and its content hash; ``NotFound`` style ``UserError``."""
        from lakeworks.errors import NotFound

        target = self.root / editable_path(path)
        if not target.is_file():
            raise NotFound(f"{path} does not exist")
        text = target.read_text(encoding="utf-8")
        return text, content_hash(text)

    def change(
        self,
        changes: Mapping[str, str | None],
        *,
        expected: Mapping[str, str | None] | None = None,
    ) -> list[str]:
        """Write (text) or remove (None) files after validating the result; returns the
        validation warnings. ``expected`` maps paths to the hash the caller read (None:
        the file must not exist)."""
        paths = {editable_path(p): text for p, text in changes.items()}
        for path, text in paths.items():
            if text is not None and path != "lakeworks.yml":
                check_node_size(len(text.encode("utf-8")), path)
        for _ in range(_ATTEMPTS):
            current = dict(snapshot_folder(self.root).files)
            _check_expected(current, expected or {})
            proposed = dict(current)
            for path, text in paths.items():
                if text is None:
                    proposed.pop(path, None)
                else:
                    proposed[path] = text
            warnings = self._validate(proposed)
            lock = _lock_for(self.root)
            if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
                raise TransientError(
                    "another edit of this workspace is being saved",
                    hint="try again in a moment",
                )
            try:
                if dict(snapshot_folder(self.root).files) != current:
                    continue  # changed while validating: validate against the new files
                for path, text in paths.items():
                    target = self.root / path
                    if text is None:
                        target.unlink(missing_ok=True)
                        self._prune(target.parent)
                    else:
                        atomic_write(target, text)
                return warnings
            finally:
                lock.release()
        raise TransientError(
            "the workspace kept changing while this edit was validated",
            hint="try again in a moment",
        )

    def remove_workflow(self, workflow: str) -> list[str]:
        """Remove a workflow folder and every file in it (validated first)."""
        if not is_valid_name(workflow):
            raise UserError(f"invalid workflow name {workflow!r}")
        folder = self.root / "workflows" / workflow
        if not folder.is_dir():
            from lakeworks.errors import NotFound

            raise NotFound(f"workflow '{workflow}' does not exist")
        files = [
            p.relative_to(self.root).as_posix() for p in sorted(folder.iterdir()) if p.is_file()
        ]
        warnings = self.change(dict.fromkeys(files))
        if folder.is_dir():
            shutil.rmtree(folder)
        return warnings

    def _validate(self, files: Mapping[str, str]) -> list[str]:
        from lakeworks.deploy.snapshot import write_files

        with tempfile.TemporaryDirectory(prefix="lakeworks-edit-") as tmp:
            write_files(Path(tmp), files)
            _, report = check_workspace(Path(tmp))
        if report.problems:
            raise ValidationFailed(
                [
                    UserError(
                        p.message,
                        location=Location(p.file, p.line, p.column, p.key),
                        hint=p.hint,
                    )
                    for p in report.problems
                ]
            )
        return report.warnings

    def _prune(self, folder: Path) -> None:
        workflows = self.root / "workflows"
        if folder.parent == workflows and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
