"""The kinds of node, apart from the config models so that registries of executors
can name them without loading pydantic."""

from __future__ import annotations

from enum import StrEnum


class NodeKind(StrEnum):
    SQL = "sql"
    PYTHON = "python"
    SHELL = "shell"
    SYNC = "sync"
    STREAM = "stream"
    VIRTUAL = "virtual"
    BRANCH = "branch"
    MERGE = "merge"
    FOREACH = "foreach"
    HTTP = "http"
    CHECK = "check"
    DOWHILE = "dowhile"
    TRIGGER = "trigger"
    SUBFLOW = "subflow"
    """A ``*.subflow.yml`` node: runs another workflow of the workspace as a unit."""
    QUALITY = "quality"
    """A ``*.quality.yml`` rule file with a ``schedule``: its rules on their own cycle."""
