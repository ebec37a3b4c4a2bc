"""The ``lakeworks`` command line. Sub-command groups live in their own modules."""

from __future__ import annotations

import typer

from lakeworks import __version__
from lakeworks.bootstrap import install_services
from lakeworks.cli import develop, ending, groups
from lakeworks.cli.common import ENV_RULE

app = typer.Typer(
    name="lakeworks",
    help="Lakeworks: develop, schedule, operate and govern data pipelines.\n\n" + ENV_RULE,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=groups.LazyGroups,
)

develop.register(app)


def _register_groups() -> None:
    """Attach every sub-command group now (the command itself imports each group only
    when a command line names it); a group whose extra is not installed is left out."""
    for module_name, _, _ in groups.GROUPS:
        groups.register(app, module_name)


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


def main() -> None:
    """Entry point of the ``lakeworks`` command."""
    ending.enter_console()
    install_services()
    try:
        app()
    except SystemExit as done:
        if not ending.fast_exit_requested():
            raise
        ending.exit_now(done.code)
