"""``lakeworks api``: DataService Studio — define, test, publish and govern data APIs.

The commands work on the workspace's store directly (as the local operator), through
the same ``dataservice.studio`` service as the REST API; changes are audited with the
actor ``cli:<os user>``. A running server sees them within a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakeworks.cli.common import WorkspaceOption, handle_errors, load, open_database

if TYPE_CHECKING:
    from lakeworks.dataservice.studio import DataServiceStudio

app = typer.Typer(
    help="Data APIs (DataService Studio): list, show, test, publish, unpublish, rollback,"
    " diff, apps, stats, calls, openapi.",
    no_args_is_help=True,
)
apps_app = typer.Typer(
    help="Applications that call the APIs: create (key + secret), grant, limits, revoke.",
    no_args_is_help=True,
)
app.add_typer(apps_app, name="apps")

ApiArgument = Annotated[str, typer.Argument(help="The API as GROUP/NAME.")]
AppArgument = Annotated[str, typer.Argument(help="The application's name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@contextmanager
def _studio(workspace: Path, *, create_key: bool = False) -> Iterator[DataServiceStudio]:
    from lakeworks.cli.server import _register
    from lakeworks.dataservice.repository import DataServiceRepository
    from lakeworks.dataservice.studio import DataServiceStudio
    from lakeworks.engines.duckdb_engine import close_all
    from lakeworks.engines.registry import engine_for
    from lakeworks.errors import UserError
    from lakeworks.security.grants import GrantRepository
    from lakeworks.security.secrets import SecretBox, SecretStore, install_workspace_key, load_keys

    ws = load(workspace)
    db = open_database(ws)
    try:
        _register(db, ws)
        install_workspace_key(ws.state_dir, db)
        try:
            box = SecretBox(load_keys(ws.state_dir, create=create_key).keys)
        except UserError:
            if create_key:
                raise
            box = SecretBox([SecretBox.new_key()])  # this command reads no stored secret
        yield DataServiceStudio(
            DataServiceRepository(db),
            ws,
            secrets=SecretStore(db, box),
            engine=lambda env: engine_for(ws, env),
            masking=lambda: GrantRepository(db).masking_rules(ws.name),
        )
    finally:
        close_all()
        db.close()


def _audit(studio: DataServiceStudio, action: str, target: str, **detail: object) -> None:
    from lakeworks.cli.server import _audit as audit

    audit(studio.repository.db, action, target, workspace=studio.name, **detail)


def _actor() -> str:
    from lakeworks.cli.server import cli_actor

    return cli_actor()


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _parameters(values: list[str]) -> dict[str, Any]:
    from lakeworks.errors import UserError

    found: dict[str, Any] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"'{item}' is not NAME=VALUE", hint="e.g. -p region=east -p ids=1")
        existing = found.get(name.strip())
        if existing is None:
            found[name.strip()] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            found[name.strip()] = [existing, value]
    return found


# -- APIs --------------------------------------------------------------------------------


@app.command("list")
@handle_errors
def list_apis(workspace: WorkspaceOption = Path("."), as_json: JsonOption = False) -> None:
    """APIs in the workspace folder and published ones: route, versions, state."""
    from dataclasses import asdict

    with _studio(workspace) as studio:
        summaries = studio.summaries()
    if as_json:
        _echo_json([asdict(s) for s in summaries])
        return
    if not summaries:
        typer.echo("no APIs: add dataservice/<group>/<name>.api.yml (see docs/dataservice.md)")
    for s in summaries:
        state = f"v{s.published} published" if s.published else "not published"
        changed = "  (folder differs from the latest version)" if s.changed and s.versions else ""
        typer.echo(
            f"{s.key:<32} {s.method:<4} {s.route:<40} {s.mode:<6} {s.backend:<12}"
            f" {s.versions} version(s), {state}{changed}"
        )


@app.command("show")
@handle_errors
def show_api(
    api: ApiArgument, workspace: WorkspaceOption = Path("."), as_json: JsonOption = False
) -> None:
    """An API's settings, SQL template and versions."""
    with _studio(workspace) as studio:
        shown = studio.show(api)
    if as_json:
        _echo_json(shown)
        return
    spec = shown["definition"]["spec"]
    published = shown["published_version"]
    typer.echo(f"{api}  {spec.get('method', 'GET')} {shown['route']}")
    typer.echo(f"published: v{published}" if published else "published: no")
    typer.echo(f"backend: {spec.get('backend', 'warehouse')}")
    for p in spec.get("parameters", []):
        required = "required" if p.get("required") else "optional"
        typer.echo(f"  parameter {p['name']}: {p.get('type', 'string')} ({required})")
    typer.echo("sql:")
    for line in shown["sql_template"].splitlines():
        typer.echo(f"  {line}")
    for v in shown["versions"]:
        typer.echo(f"v{v['version']}  {v['created_at']}  by {v['created_by']}  {v['note']}")


@app.command("test")
@handle_errors
def test_api(
    api: ApiArgument,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE (repeat; a list takes several)."),
    ] = None,
    workspace: WorkspaceOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Run the folder's definition in dev: the SQL as bound, the rows and the time."""
    with _studio(workspace) as studio:
        outcome = studio.test(api, _parameters(param or []), from_text=True)
    if as_json:
        _echo_json(
            {
                **outcome.body(),
                "sql": outcome.sql.shown(),
                "bound": [str(v) for v in outcome.sql.values],
                "seconds": outcome.seconds,
            }
        )
        return
    typer.echo("sql:")
    for line in outcome.sql.shown().splitlines():
        typer.echo(f"  {line}")
    typer.echo(f"bound: {[str(v) for v in outcome.sql.values]}")
    for row in outcome.rows:
        typer.echo(json.dumps(row, default=str))
    more = ", more follow" if outcome.has_more else ""
    total = f", {outcome.total} in all" if outcome.total is not None else ""
    masked = f"; masked: {', '.join(sorted(outcome.masked))}" if outcome.masked else ""
    typer.echo(
        f"{len(outcome.rows)} row(s) on page {outcome.page}{more}{total}"
        f" in {outcome.seconds * 1000:.1f} ms{masked}"
    )


@app.command("publish")
@handle_errors
def publish_api(
    api: ApiArgument,
    message: Annotated[str, typer.Option("--message", "-m", help="A note on this version.")] = "",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Store the folder's definition as the next version (if it changed) and serve it."""
    with _studio(workspace) as studio:
        version = studio.publish(api, _actor(), message)
        _audit(studio, "api_publish", api, version=version.version)
    typer.secho(
        f"published {api} v{version.version} at /dataservice/{version.route}",
        fg=typer.colors.GREEN,
    )


@app.command("unpublish")
@handle_errors
def unpublish_api(api: ApiArgument, workspace: WorkspaceOption = Path(".")) -> None:
    """Stop serving an API (its versions are kept)."""
    with _studio(workspace) as studio:
        studio.unpublish(api)
        _audit(studio, "api_unpublish", api)
    typer.echo(f"{api} is no longer served")


@app.command("rollback")
@handle_errors
def rollback_api(
    api: ApiArgument,
    version: Annotated[int, typer.Argument(help="The version to serve again.", min=1)],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Serve an earlier version again."""
    with _studio(workspace) as studio:
        stored = studio.rollback(api, version, _actor())
        _audit(studio, "api_rollback", api, version=version)
    typer.secho(f"{api} serves v{stored.version} again", fg=typer.colors.GREEN)


@app.command("diff")
@handle_errors
def diff_api(
    api: ApiArgument,
    old: Annotated[str, typer.Argument(help="A version number, or dev.")],
    new: Annotated[str, typer.Argument(help="A version number, or dev (the folder).")] = "dev",
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Differences in settings, parameters and SQL between two versions."""
    with _studio(workspace) as studio:
        text = studio.diff(api, old, new)
    typer.echo(text or "no differences")


@app.command("stats")
@handle_errors
def stats(
    api: Annotated[str | None, typer.Argument(help="One API (default: all).")] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="Only calls since then (UTC).")
    ] = None,
    workspace: WorkspaceOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Calls, errors and p50/p99 latency per API, from the call log."""
    from dataclasses import asdict

    with _studio(workspace) as studio:
        found = studio.stats(api, since)
    if as_json:
        _echo_json([asdict(s) for s in found])
        return
    typer.echo(f"{'api':<32} {'calls':>8} {'errors':>7} {'p50 ms':>9} {'p99 ms':>9} {'cached':>7}")
    for s in found:
        p50 = f"{s.p50_ms:.1f}" if s.p50_ms is not None else "-"
        p99 = f"{s.p99_ms:.1f}" if s.p99_ms is not None else "-"
        typer.echo(f"{s.api:<32} {s.calls:>8} {s.errors:>7} {p50:>9} {p99:>9} {s.cached:>7}")


@app.command("calls")
@handle_errors
def calls(
    api: Annotated[str | None, typer.Argument(help="One API (default: all).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """The latest calls: when, app, API, version, status, time, rows, client."""
    with _studio(workspace) as studio:
        found = studio.calls(api, limit)
    for c in found:
        typer.echo(
            f"{c['called_at']:%Y-%m-%d %H:%M:%S}  {c['app_key'] or '-':<24} {c['route']:<32}"
            f" v{c['version'] or '-'} {c['status']} {c['duration_ms']:.1f}ms {c['rows']} rows"
            f" {c['client'] or ''}"
        )


@app.command("openapi")
@handle_errors
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    server: Annotated[str | None, typer.Option("--server", help="Base URL to name.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """The OpenAPI 3.1 document of every published API (for client generation)."""
    from lakeworks.dataservice.openapi import openapi_document

    with _studio(workspace) as studio:
        document = openapi_document(studio.repository.published_versions(), server)
    text = json.dumps(document, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


# -- applications ------------------------------------------------------------------------


@apps_app.command("list")
@handle_errors
def apps_list(workspace: WorkspaceOption = Path(".")) -> None:
    """Applications: key, limits, state."""
    with _studio(workspace) as studio:
        found = studio.apps()
    for a in found:
        state = f"revoked {a.revoked_at:%Y-%m-%d}" if a.revoked_at else "active"
        limits = f"{a.per_second or '-'}/s {a.per_day or '-'}/day"
        typer.echo(f"{a.name:<24} {a.app_key:<24} {limits:<18} {state}")


@apps_app.command("create")
@handle_errors
def apps_create(
    name: AppArgument,
    description: Annotated[str, typer.Option("--description")] = "",
    per_second: Annotated[int | None, typer.Option("--per-second", min=1)] = None,
    per_day: Annotated[int | None, typer.Option("--per-day", min=1)] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Create an application; prints its key, secret and bearer token (shown once)."""
    from lakeworks.dataservice.spec import Limits

    with _studio(workspace, create_key=True) as studio:
        created = studio.create_app(
            name,
            _actor(),
            description=description,
            limits=Limits(per_second=per_second, per_day=per_day),
        )
        _audit(studio, "api_app_create", name, app_key=created.app.app_key)
    typer.echo(f"key:    {created.app.app_key}")
    typer.echo(f"secret: {created.secret}")
    typer.echo(f"token:  {created.token}")
    typer.secho("  (the secret is shown once; store it now)", fg=typer.colors.YELLOW, err=True)


@apps_app.command("show")
@handle_errors
def apps_show(name: AppArgument, workspace: WorkspaceOption = Path(".")) -> None:
    """An application and the APIs it is granted."""
    with _studio(workspace) as studio:
        found, grants = studio.app(name)
    typer.echo(f"{found.name}  key {found.app_key}  {'revoked' if found.revoked_at else 'active'}")
    typer.echo(f"limits: {found.per_second or '-'}/s, {found.per_day or '-'}/day")
    for g in grants:
        until = f" until {g.expires_at:%Y-%m-%d %H:%M}" if g.expires_at else ""
        typer.echo(f"  {g.api}{until}")


@apps_app.command("grant")
@handle_errors
def apps_grant(
    name: AppArgument,
    api: ApiArgument,
    until: Annotated[
        datetime | None, typer.Option("--until", help="The grant ends then (UTC).")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Let an application call an API (optionally until a date)."""
    with _studio(workspace) as studio:
        studio.grant(name, api, _actor(), until)
        _audit(studio, "api_grant", api, app=name, until=until)
    typer.echo(f"{name} may call {api}" + (f" until {until}" if until else ""))


@apps_app.command("ungrant")
@handle_errors
def apps_ungrant(
    name: AppArgument, api: ApiArgument, workspace: WorkspaceOption = Path(".")
) -> None:
    """Take an API away from an application."""
    with _studio(workspace) as studio:
        studio.revoke_grant(name, api)
        _audit(studio, "api_ungrant", api, app=name)
    typer.echo(f"{name} may no longer call {api}")


@apps_app.command("limits")
@handle_errors
def apps_limits(
    name: AppArgument,
    per_second: Annotated[int | None, typer.Option("--per-second", min=1)] = None,
    per_day: Annotated[int | None, typer.Option("--per-day", min=1)] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Set an application's requests per second and per day (omit one: unlimited)."""
    from lakeworks.dataservice.spec import Limits

    with _studio(workspace) as studio:
        studio.set_limits(name, Limits(per_second=per_second, per_day=per_day))
        _audit(studio, "api_app_limits", name, per_second=per_second, per_day=per_day)
    typer.echo(f"{name}: {per_second or '-'}/s, {per_day or '-'}/day")


@apps_app.command("revoke")
@handle_errors
def apps_revoke(name: AppArgument, workspace: WorkspaceOption = Path(".")) -> None:
    """Revoke an application: its key and secret stop working."""
    with _studio(workspace) as studio:
        studio.revoke_app(name)
        _audit(studio, "api_app_revoke", name)
    typer.echo(f"{name} is revoked")
