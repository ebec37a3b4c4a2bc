"""The ``lakeworks`` command line. Sub-command groups live in their own modules."""

from __future__ import annotations

import sys

import typer

from lakeworks import __version__
from lakeworks.bootstrap import install_services
from lakeworks.cli import develop
from lakeworks.cli.common import ENV_RULE

app = typer.Typer(
    name="lakeworks",
    help="Lakeworks: develop, schedule, operate and govern data pipelines.\n\n" + ENV_RULE,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

develop.register(app)


def _register_groups() -> None:
    """Attach each sub-command group; a group whose extra is not installed is left out."""
    import importlib

    for module_name, attr, name in GROUPS:
        try:
            module = importlib.import_module(f"lakeworks.cli.{module_name}")
        except ImportError as exc:
            if exc.name and exc.name.startswith("lakeworks"):
                raise
            continue
        group = getattr(module, attr)
        if isinstance(group, typer.Typer):
            app.add_typer(group, name=name)
        else:
            group(app)


GROUPS: list[tuple[str, str, str]] = [
    # (module in lakeworks.cli, attribute, group name); a callable attribute registers itself
    ("quality", "app", "quality"),
    ("server", "register", "server"),
    ("sync", "app", "sync"),
    ("datasources", "app", "datasources"),
    ("stream", "app", "stream"),
    ("map", "register", "map"),
    ("ops", "register", "ops"),
    ("alerts", "app", "alerts"),
    ("processes", "register", "backfill, scheduler, worker"),
    ("dataservice", "app", "api"),
    ("lakehouse", "app", "lakehouse"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lakeworks {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Lakeworks: develop, schedule, operate and govern data pipelines."""


def _names_a_development_command(args: list[str]) -> bool:
    """Whether the command line names one of ``develop``'s commands (``run``, ``query``…).

    Those need none of the other groups, whose modules take a noticeable share of a
    short command's start-up to import and build.
    """
    own = {
        str(c.name or getattr(c.callback, "__name__", "")).replace("_", "-")
        for c in app.registered_commands
    }
    return bool(args) and args[0] in own


def main() -> None:
    """Entry point of the ``lakeworks`` command."""
    install_services()
    if not _names_a_development_command(sys.argv[1:]):
        _register_groups()
    app()
