"""Column lineage of a run's changed SQL nodes, analysed while the run starts.

A run knows from its start which nodes it will run. Their column lineage is analysed
at once in the helper process (``lineage_worker``), against the catalog and the
columns the run's own nodes will create, instead of batch by batch as they end. Each
node's result is kept with the columns its analysis was given for every table it
asked about (``Lookups``). When the node's batch comes, the result is used only if the
node's code is the same and every one of those tables has the same columns now (after
the harvest of what the run wrote): the analysis would then give the same result.
Any other node is analysed with the batch, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lakeworks.catalog.lineage_index import UNSEEN, Lookups, NodeLineage, SqlTask, stamped

logger = logging.getLogger("lakeworks.catalog")

Analysis = Callable[[], tuple[dict[str, NodeLineage], dict[str, Lookups]] | None]
"""Analyses the run's tasks (in the helper); None when it cannot."""


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    results: dict[str, NodeLineage] = field(default_factory=dict)
    lookups: dict[str, Lookups] = field(default_factory=dict)


class LineageAhead:
    """The lineage analysed ahead for the runs of this process, per workspace and env."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, str], _Pending] = {}

    def start(self, scope: tuple[str, str], analysis: Analysis) -> threading.Thread:
        """Run ``analysis`` on a thread of its own; batches of ``scope`` wait for it."""
        pending = _Pending()
        with self._lock:
            self._runs[scope] = pending

        def work() -> None:
            try:
                found = analysis()
                if found is not None:
                    pending.results, pending.lookups = found
            except Exception as exc:  # the batches analyse their nodes themselves
                logger.warning("column lineage ahead of the run failed: %s", exc)
            finally:
                pending.done.set()

        thread = threading.Thread(target=work, name="lakeworks-lineage-ahead", daemon=True)
        thread.start()
        return thread

    def reuse(
        self,
        scope: tuple[str, str],
        tasks: Sequence[SqlTask],
        view: Mapping[str, Sequence[str]],
    ) -> tuple[dict[str, NodeLineage], list[SqlTask]]:
        """The results analysed ahead that still hold for ``tasks`` (``view``: the
        columns the batch's analysis would be given), and the tasks left to analyse.
        Waits for an analysis of ``scope`` still under way."""
        with self._lock:
            pending = self._runs.get(scope)
        if pending is None or not tasks:
            return {}, list(tasks)
        pending.done.wait()
        reused: dict[str, NodeLineage] = {}
        rest: list[SqlTask] = []
        for task in tasks:
            key = task.base.node_key
            item = pending.results.get(key)
            if (
                item is not None
                and item.code_hash == task.base.code_hash
                and _still_given(pending.lookups.get(key, {}), view)
            ):
                reused[key] = stamped(item, task.base)
            else:
                rest.append(task)
        return reused, rest


def _still_given(lookups: Lookups, view: Mapping[str, Sequence[str]]) -> bool:
    if UNSEEN in lookups:
        return False
    for table, seen in lookups.items():
        now = view.get(table)
        if (None if now is None else tuple(now)) != seen:
            return False
    return True
