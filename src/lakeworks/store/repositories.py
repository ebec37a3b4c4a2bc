"""Every repository of the metadata store, importable from one place."""

from __future__ import annotations

from lakeworks.store.attempts import AttemptRepository
from lakeworks.store.instances import InstanceRepository
from lakeworks.store.logs import LogRepository
from lakeworks.store.node_versions import NodeVersionRepository
from lakeworks.store.queue import WorkQueue
from lakeworks.store.runs import RunRepository

__all__ = [
    "AttemptRepository",
    "InstanceRepository",
    "LogRepository",
    "NodeVersionRepository",
    "RunRepository",
    "WorkQueue",
]
