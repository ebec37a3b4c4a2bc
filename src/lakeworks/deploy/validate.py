"""Validate a deployment's files as a whole workspace, exactly as prod will load them.

The files are written to a temporary folder and loaded there: workspace and workflow
settings, every node, the dependency graph (cycles, two writers of a table, unknown
dependencies, SQL and parameters), the columns SQL nodes read (against what upstream
nodes write), quality rules and data source configs. Layer
naming rules (``layers:`` in ``lakeworks.yml``) are checked too, as warnings.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lakeworks.deploy.models import Problem
from lakeworks.deploy.snapshot import write_files
from lakeworks.errors import LakeworksError, UserError, ValidationFailed
from lakeworks.spec.models import Workspace

if TYPE_CHECKING:
    from lakeworks.catalog.column_check import CatalogLookup


@dataclass(frozen=True)
class ValidationReport:
    problems: list[Problem]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _relative(file: object, root: Path) -> str | None:
    if file is None:
        return None
    path = Path(str(file))
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(file)


def _problems(exc: LakeworksError, root: Path) -> list[Problem]:
    errors = exc.errors if isinstance(exc, ValidationFailed) else [exc]
    found: list[Problem] = []
    for error in errors:
        if isinstance(error, UserError):
            where = error.location
            found.append(
                Problem(
                    message=error.message,
                    file=_relative(where.file, root),
                    line=where.line,
                    column=where.column,
                    key=where.key,
                    hint=error.hint,
                )
            )
        else:
            found.append(Problem(message=error.message, hint=error.hint))
    return found


def layer_warnings(workspace: Workspace, writes: Mapping[str, frozenset[str]]) -> list[str]:
    """Tables written by nodes that match no configured layer prefix."""
    layers = workspace.config.layers
    if not layers:
        return []
    prefixes = tuple(rule.prefix.lower() for rule in layers.values())
    warnings = []
    for node_key, tables in sorted(writes.items()):
        for table in sorted(tables):
            bare = table.rsplit(".", 1)[-1]
            if not bare.startswith(prefixes):
                warnings.append(
                    f"{node_key} writes '{table}', which matches no layer prefix"
                    f" ({', '.join(prefixes)})"
                )
    return warnings


def check_workspace(
    root: Path, *, catalog: CatalogLookup | None = None, cache_dir: Path | None = None
) -> tuple[Workspace | None, ValidationReport]:
    """Load and check the workspace at ``root``; never raises for user problems.

    ``catalog``: the Data Map's columns, so SQL is checked against catalogued tables
    too (and reads of tables nobody writes and the catalog does not know are problems);
    ``cache_dir``: where per-node results of the column check are kept between runs."""
    from lakeworks.alerts.loader import load_workspace_alerts
    from lakeworks.catalog.column_check import column_problems
    from lakeworks.connectors.registry import check_data_sources
    from lakeworks.quality.workspace import load_workspace_rules
    from lakeworks.schedule.graph import build_graph
    from lakeworks.spec.loader import load_workspace, workspace_config_lines

    try:
        workspace = load_workspace(root)
    except LakeworksError as exc:
        return None, ValidationReport(_problems(exc, root), [])
    problems: list[Problem] = []
    warnings: list[str] = []
    try:
        graph = build_graph(workspace)
    except LakeworksError as exc:
        problems.extend(_problems(exc, root))
    else:
        warnings.extend(layer_warnings(workspace, {k: io.writes for k, io in graph.io.items()}))
        known = catalog(workspace) if catalog is not None else None
        for error in column_problems(workspace, known, graph=graph, cache_dir=cache_dir):
            problems.extend(_problems(error, root))
    try:
        load_workspace_rules(workspace)
    except LakeworksError as exc:
        problems.extend(_problems(exc, root))
    try:
        load_workspace_alerts(workspace)
    except LakeworksError as exc:
        problems.extend(_problems(exc, root))
    lines = workspace_config_lines(root)
    for error in check_data_sources(workspace.config.data_sources, lines):
        problems.extend(_problems(error, root))
    return workspace, ValidationReport(problems, warnings)


def validate_files(
    files: Mapping[str, str], *, catalog: CatalogLookup | None = None
) -> ValidationReport:
    """Check deployment files as a workspace, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="lakeworks-validate-") as tmp:
        root = Path(tmp)
        try:
            write_files(root, files)
        except UserError as exc:
            return ValidationReport(_problems(exc, root), [])
        _, report = check_workspace(root, catalog=catalog)
        return report
