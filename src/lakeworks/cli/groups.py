"""The command groups of ``lakeworks``, imported only when a command line names them.

Each group's module (and what it imports: the store, the runtime, the config models) is
loaded when one of its commands runs. ``lakeworks --help`` lists every command from
``LISTED`` without importing any group; a test keeps ``LISTED`` equal to what the
modules register.
"""

from __future__ import annotations

import importlib

import typer
import typer.main
from typer import _click
from typer.core import TyperCommand, TyperGroup

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

LISTED: dict[str, tuple[str, str]] = {
    # top-level command: (module in GROUPS that registers it, first paragraph of its help)
    "up": (
        "server",
        "Serve the web console (/) and the REST API (OpenAPI at /api/openapi.json) and run\n"
        "the scheduler and a worker, until interrupted. The first start creates the user\n"
        "'admin' and prints its password once (or takes it from LAKEWORKS_ADMIN_PASSWORD).",
    ),
    "deploy": (
        "server",
        "Deploy a workspace folder to prod: diff against the current release, validate,\n"
        "and apply atomically (or leave it waiting for a deployer's approval).",
    ),
    "scheduler": (
        "processes",
        "Plan and dispatch the workspace's scheduled instances until interrupted.",
    ),
    "worker": (
        "processes",
        "Claim and run queued instances of some resource groups until interrupted.",
    ),
    "quality": (
        "quality",
        "Data quality: rules on tables, checked after each write and on demand.",
    ),
    "deployments": ("server", "Deployments to prod: list, show, approve, apply, roll back."),
    "secrets": ("server", "The secret key: rotate it, make one, encrypt a value."),
    "users": ("server", "Users of the server: create, list, reset passwords, roles."),
    "tokens": ("server", "Personal API tokens: create, list, revoke."),
    "sync": (
        "sync",
        "Data integration: run sync nodes, look at their runs, quarantined rows and cursors.",
    ),
    "datasources": (
        "datasources",
        "Data sources of the workspace folder: list them, test a connection.",
    ),
    "stream": (
        "stream",
        "Real-time sync: run, start, stop, pause, resume and reset stream nodes; show their"
        " status and quarantined messages.",
    ),
    "map": ("map", "Data Map: catalog, search, column lineage and impact analysis."),
    "ops": ("ops", "Operations: watch instances, read logs, rerun, stop, freeze, prune."),
    "alerts": (
        "alerts",
        "Alerts and SLA baselines: rules, channels, incidents, deliveries, predictions.",
    ),
    "backfill": ("processes", "Backfill (data complement): run nodes for past business dates."),
    "api": (
        "dataservice",
        "Data APIs (DataService Studio): list, show, test, publish, unpublish, rollback,"
        " diff, apps, stats, calls, openapi.",
    ),
    "lakehouse": (
        "lakehouse",
        "Lakehouse tables (Spark environments): list them, clean up old and orphaned files.",
    ),
}


def register(app: typer.Typer, module_name: str) -> bool:
    """Attach the commands of one group module to ``app``; False when the module needs an
    extra that is not installed."""
    for name, attr, group_name in GROUPS:
        if name != module_name:
            continue
        try:
            module = importlib.import_module(f"lakeworks.cli.{module_name}")
        except ImportError as exc:
            if exc.name and exc.name.startswith("lakeworks"):
                raise
            return False
        group = getattr(module, attr)
        if isinstance(group, typer.Typer):
            app.add_typer(group, name=group_name)
        else:
            group(app)
        return True
    raise KeyError(module_name)


class LazyGroups(TyperGroup):
    """The root command: a group's module is imported when one of its commands is
    named (or, for an unknown name, all of them, so the "did you mean" hint knows every
    command); help lists the others from ``LISTED``."""

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)  # type: ignore[arg-type]
        self._missing: set[str] = set()
        self._loaded: set[str] = set()

    def _listed(self, name: str) -> bool:
        return name in LISTED and LISTED[name][0] not in self._missing

    def list_commands(self, ctx: _click.Context) -> list[str]:
        own = [name for name in self.commands if name not in LISTED]
        return own + [name for name in LISTED if name in self.commands or self._listed(name)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None and self._listed(cmd_name):
            # what a help listing reads: the name and the first paragraph of the help
            command = TyperCommand(cmd_name, help=LISTED[cmd_name][1])
        if command is not None:
            one_line_listing(command)
        return command

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            if self._listed(args[0]):
                self._load(LISTED[args[0]][0])
            else:
                for module_name, _, _ in GROUPS:
                    self._load(module_name)
        return super().resolve_command(ctx, args)

    def _load(self, module_name: str) -> None:
        if module_name in self._missing or module_name in self._loaded:
            return
        self._loaded.add(module_name)
        holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        if not register(holder, module_name):
            self._missing.add(module_name)
            return
        for name, command in typer.main.get_group(holder).commands.items():
            self.commands.setdefault(name, command)


def one_line_listing(command: _click.Command) -> None:
    """Give ``command`` and its sub-commands the first paragraph of their help as one
    line for command listings (help text wraps its lines; a listing should not keep
    those breaks mid-sentence)."""
    if command.short_help is None and command.help:
        command.short_help = " ".join(command.help.split("\n\n", 1)[0].split())
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            one_line_listing(sub)
