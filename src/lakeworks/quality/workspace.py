"""The rules of a workspace: found, loaded and checked with the workspace's parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import sqlglot
from sqlglot.errors import ParseError

import lakeworks.sql.dialect  # noqa: F401  (registers the maxcompute dialect)
from lakeworks.errors import Location, UserError
from lakeworks.quality.loader import SqlCheck, find_rule_files, load_rules
from lakeworks.quality.models import RuleSet
from lakeworks.spec.models import Workspace
from lakeworks.sql.params import ParamContext, render

SAMPLE_CYCLE_TIME = datetime(2000, 1, 2, 0, 0)
"""The cycle time parameters are rendered for when rules are checked before any run."""


def sql_checker(parameters_of: Callable[[Path | None], Mapping[str, str]]) -> SqlCheck:
    """A check that SQL text renders (no unknown parameter) and parses in its dialect.

    ``parameters_of`` gives the user parameters visible to a rule file.
    """

    def check(text: str, dialect: str, where: Location) -> None:
        file = Path(where.file) if where.file is not None else None
        ctx = ParamContext(cycle_time=SAMPLE_CYCLE_TIME, parameters=dict(parameters_of(file)))
        rendered = render(text, ctx, path=where.file, first_line=where.line or 1)
        try:
            sqlglot.parse(rendered, read=dialect)
        except (ParseError, ValueError) as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
            raise UserError(f"cannot parse SQL: {detail}", location=where) from None

    return check


def rule_parameters(workspace: Workspace, path: Path | None) -> dict[str, str]:
    """User parameters a rule file sees: the workspace's, then its workflow's if the
    file lives in ``workflows/<name>/``."""
    merged = dict(workspace.config.parameters)
    if path is None:
        return merged
    try:
        relative = path.resolve().relative_to(workspace.root.resolve())
    except ValueError:
        return merged
    parts = relative.parts
    if len(parts) >= 3 and parts[0] == "workflows" and parts[1] in workspace.workflows:
        merged.update(workspace.workflows[parts[1]].config.parameters)
    return merged


def load_workspace_rules(workspace: Workspace) -> RuleSet:
    """Every ``*.quality.yml`` rule of ``workspace``; raises ``ValidationFailed``.

    Partition filters and custom SQL are rendered for a sample date with the
    parameters the file sees, so that an unknown parameter or a syntax error is
    reported with its file and line before anything runs.
    """
    return load_rules(
        find_rule_files(workspace.root),
        default_dialect=workspace.config.sql_dialect,
        sql_check=sql_checker(lambda path: rule_parameters(workspace, path)),
    )
