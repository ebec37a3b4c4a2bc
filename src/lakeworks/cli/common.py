"""Shared CLI plumbing: options, opening the workspace, store and engine, errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from lakeworks.errors import LakeworksError, UserError, ValidationFailed

if TYPE_CHECKING:
    from lakeworks.engines.base import Engine
    from lakeworks.spec.models import Workspace
    from lakeworks.store.database import Database

P = ParamSpec("P")
R = TypeVar("R")

WorkspaceOption = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: the current directory).",
        show_default=False,
    ),
]
ENV_RULE = (
    "Commands that develop (validate, render, run, query, quality, map) use dev; commands"
    " that operate the schedule (scheduler, worker, ops, backfill) use prod, which runs the"
    " deployed release."
)
"""The one rule for which environment a command uses, repeated in every ``--env`` help."""

EnvOption = Annotated[
    str, typer.Option("--env", "-e", help=f"Environment, dev (default) or prod. {ENV_RULE}")
]


def fail(message: str, code: int = 1) -> None:
    """Print an error for a person (no traceback) and exit."""
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn Lakeworks errors into a clear message and an exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ValidationFailed as exc:
            typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
            for error in exc.errors:
                typer.echo(f"  {error.render()}", err=True)
            raise typer.Exit(2) from None
        except UserError as exc:
            typer.secho(f"error: {exc.render()}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        except LakeworksError as exc:
            typer.secho(f"error: {exc.render()}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(130) from None

    return wrapper


def load(workspace: Path | None) -> Workspace:
    """The workspace at ``workspace`` (or found from the current directory)."""
    from lakeworks.spec.loader import load_workspace
    from lakeworks.spec.roots import find_workspace_root

    root = find_workspace_root(workspace or Path.cwd())
    return load_workspace(root)


def open_database(ws: Workspace) -> Database:
    """The metadata store of a workspace (migrated to the latest schema)."""
    from lakeworks.store.database import Database, default_database_url

    return Database.open(default_database_url(ws.state_dir))


def open_engine(ws: Workspace, env: str) -> Engine:
    """The warehouse engine of ``env``."""
    from lakeworks.engines.registry import engine_for

    return engine_for(ws, env)


def is_tty() -> bool:
    return sys.stdout.isatty()


@contextmanager
def serving_warehouses(ws: Workspace, envs: Iterable[str]) -> Iterator[None]:
    """Hold the embedded DuckDB warehouses of ``envs`` and serve them on their local
    sockets while the block runs, so ``query``, ``map build`` and ``quality run`` work
    beside this process (``engines.duckdb_socket``). A warehouse that another local
    Lakeworks process already holds is left to it: this process goes through it too."""
    from lakeworks.engines.duckdb_engine import DuckDBEngine
    from lakeworks.engines.registry import engine_for
    from lakeworks.errors import TransientError

    servers = []
    try:
        for env in envs:
            engine = engine_for(ws, env)
            if isinstance(engine, DuckDBEngine):
                try:
                    server = engine.serve()
                except TransientError:
                    note = f"note: another process holds the {env} warehouse; this one uses it"
                    typer.echo(note, err=True)
                    continue
                if server is not None:
                    servers.append(server)
        yield
    finally:
        for server in servers:
            server.stop()
