"""Server commands: ``lakeworks up``, ``lakeworks deploy DIR``, deployments, secrets,
users and API tokens.

``up`` serves the REST API and runs the scheduler and a worker for prod in one
process, on the workspace's embedded store (or ``LAKEWORKS_DATABASE_URL``). The other
commands work on the same store directly, as the local operator; what they change is
written to the audit log with the actor ``cli:<os user>``.
"""

from __future__ import annotations

import getpass
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakeworks.cli.common import (
    WorkspaceOption,
    handle_errors,
    load,
    open_database,
    serving_warehouses,
)

if TYPE_CHECKING:
    from lakeworks.api.services import ServerServices
    from lakeworks.deploy.models import Deployment
    from lakeworks.deploy.service import DeploymentService
    from lakeworks.runtime.process import LakeworksProcess
    from lakeworks.security.users import UserRepository
    from lakeworks.spec.models import Workspace
    from lakeworks.store.database import Database

deployments_app = typer.Typer(help="Deployments to prod: list, show, approve, apply, roll back.")
secrets_app = typer.Typer(help="The secret key: rotate it, make one, encrypt a value.")
users_app = typer.Typer(help="Users of the server: create, list, reset passwords, roles.")
tokens_app = typer.Typer(help="Personal API tokens: create, list, revoke.")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SENDER_STOP = threading.Event()
"""Never set: the alert sender thread of `lakeworks up` ends with the process."""


def cli_actor() -> str:
    """The audit actor of local commands."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _audit(db: Database, action: str, target: str, **detail: object) -> None:
    from lakeworks.security.audit import AuditLog
    from lakeworks.security.secrets import redact

    workspace = detail.pop("workspace", None)
    AuditLog(db, redact).record(
        actor=cli_actor(),
        action=action,
        target=target,
        workspace=str(workspace) if workspace else None,
        detail=detail or None,
    )


def _register(db: Database, ws: Workspace) -> None:
    from lakeworks.security.grants import GrantRepository
    from lakeworks.security.workspaces import WorkspaceRepository

    repo = WorkspaceRepository(db)
    if repo.find(ws.name) is None:
        repo.register(ws.name, ws.root, actor=cli_actor(), require_approval=False)
        GrantRepository(db).seed_defaults(ws.name, cli_actor())


# -- up --------------------------------------------------------------------------------


@handle_errors
def up(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    scheduler: Annotated[
        bool, typer.Option("--scheduler/--no-scheduler", help="Run the prod scheduler and worker.")
    ] = True,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--insecure-cookies",
            help="Mark session cookies Secure (default: unless listening on loopback).",
        ),
    ] = None,
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds running instances get to finish on stop.")
    ] = 30.0,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            envvar="LAKEWORKS_TRUSTED_PROXIES",
            help="Reverse proxy address or network whose X-Forwarded-For is believed"
            " (repeat, or comma-separate; default none).",
        ),
    ] = None,
    query_timeout: Annotated[
        float,
        typer.Option(
            "--query-timeout",
            min=0.1,
            help="Seconds an ad-hoc query or data preview may run before it is stopped.",
        ),
    ] = 30.0,
    query_max_rows: Annotated[
        int,
        typer.Option(
            "--query-max-rows",
            min=1,
            help="Rows an ad-hoc query or data preview returns at most.",
        ),
    ] = 10000,
) -> None:
    """Serve the web console (/) and the REST API (OpenAPI at /api/openapi.json) and run
    the scheduler and a worker, until interrupted. The first start creates the user
    'admin' and prints its password once (or takes it from LAKEWORKS_ADMIN_PASSWORD)."""
    import uvicorn

    from lakeworks.api.app import create_app
    from lakeworks.api.services import ServerServices, ServerSettings
    from lakeworks.security.secrets import SecretBox, install_log_redaction, load_keys
    from lakeworks.security.users import ADMIN_PASSWORD_ENV
    from lakeworks.web.app import install_console

    ws = load(workspace)
    db = open_database(ws)
    keys = load_keys(ws.state_dir, create=True)
    settings = ServerSettings(
        cookie_secure=secure_cookies if secure_cookies is not None else host not in LOOPBACK,
        workspaces_dir=ws.state_dir / "workspaces",
        trusted_proxies=tuple(trusted_proxy or ()),
        max_query_rows=query_max_rows,
        query_timeout_seconds=query_timeout,
    )
    services = ServerServices(db, SecretBox(keys.keys), settings, key_file=keys.path)
    services.secrets.install()
    services.secrets.load_all_known()
    _register(db, ws)
    generated = services.users.ensure_admin("admin", os.environ.get(ADMIN_PASSWORD_ENV) or None)
    if generated:
        typer.secho(
            f"created the administrator 'admin' with password: {generated}\n"
            "  (shown once; change it after signing in)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    elif not os.environ.get(ADMIN_PASSWORD_ENV):
        typer.echo(
            "sign in as 'admin' with the password printed at the first start"
            f" (forgotten: lakeworks users set-password admin -w {workspace})",
            err=True,
        )
    process = None
    if scheduler:
        process = _runtime(db, services, ws.name, grace)
        process.check()  # takes over from a dead predecessor; refuses a live one

    def start() -> None:
        if process is not None:
            process.start()

    def stop() -> None:
        if process is not None:
            typer.echo("stopping the scheduler and worker (running instances finish)", err=True)
            process.stop()

    def health() -> dict[str, str]:
        return process.health() if process is not None else {"scheduler": "off", "worker": "off"}

    app = create_app(services, on_startup=start, on_shutdown=stop, health=health)
    install_console(app)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=int(grace),
        proxy_headers=False,  # the app believes X-Forwarded-For from --trusted-proxy only
    )
    install_log_redaction()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.secho(
        f"lakeworks {ws.name}: console http://{shown}:{port}/  API http://{shown}:{port}/api/docs"
        f"  (store {db.url})",
        fg=typer.colors.GREEN,
        err=True,
    )
    typer.echo(f"  data APIs: http://{shown}:{port}/dataservice/openapi.json", err=True)
    try:
        with _stop_signals_end_cleanly(), serving_warehouses(ws, ws.config.environments):
            uvicorn.Server(config).run()
    finally:
        services.close()
        db.close()
    if process is not None and process.failed is not None:
        typer.secho(f"error: {process.failed}; the server stopped", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


@contextmanager
def _stop_signals_end_cleanly() -> Iterator[None]:
    """Uvicorn stops gracefully on SIGINT/SIGTERM, then raises the signal again for the
    handler it found; with this one in place a graceful stop exits with status 0."""
    received: list[int] = []

    def note(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _runtime(db: Database, services: ServerServices, name: str, grace: float) -> LakeworksProcess:
    """The prod scheduler and worker (prod runs the current release), supervised: a
    part that keeps dying stops the server, which then exits non-zero."""
    from lakeworks.alerts.plugin import start_sender
    from lakeworks.runtime.clock import clock_from_env
    from lakeworks.runtime.process import LakeworksProcess
    from lakeworks.security.secrets import redact

    source = services.source(name)

    def log(line: str) -> None:
        typer.echo(redact(line), err=True)

    process = LakeworksProcess(db, source, env="prod", clock=clock_from_env(), log=log)
    process.grace_seconds = grace

    def give_up(why: str) -> None:  # a server without scheduling must not look healthy
        log(f"{why}: stopping the server")
        os.kill(os.getpid(), signal.SIGTERM)

    process.on_failure = give_up
    start_sender(db, lambda ws: source.current("prod") if ws == name else None, _SENDER_STOP, log)
    return process


# -- deploy ----------------------------------------------------------------------------


def _print_changes(summary: dict[str, Any]) -> None:
    """One line per changed node, settings file, quality rule file and other file."""
    from lakeworks.deploy.diff import SUMMARY_KEYS

    for key in SUMMARY_KEYS:
        for item in summary.get(key, []):
            typer.echo(f"  {key.replace('_', ' ')}: {item}")


def _print_deployment(deployment: Deployment) -> None:
    typer.echo(f"deployment {deployment.id}: {deployment.state.value} ({deployment.source})")
    _print_changes(deployment.summary)
    for problem in deployment.problems:
        typer.secho(f"  problem: {problem.render()}", fg=typer.colors.RED, err=True)
    for warning in deployment.warnings:
        typer.secho(f"  warning: {warning}", fg=typer.colors.YELLOW, err=True)


@handle_errors
def deploy(
    directory: Annotated[Path, typer.Argument(help="The workspace folder (e.g. a git checkout).")],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="The server's workspace folder whose store receives it (default: DIR).",
        ),
    ] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="What it changes.")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show the diff; record nothing.")
    ] = False,
) -> None:
    """Deploy a workspace folder to prod: diff against the current release, validate,
    and apply atomically (or leave it waiting for a deployer's approval)."""
    from lakeworks.catalog.column_check import catalog_lookup
    from lakeworks.deploy.diff import compare, summarize
    from lakeworks.deploy.models import DeploymentState
    from lakeworks.deploy.repository import DeploymentRepository
    from lakeworks.deploy.service import DeploymentService
    from lakeworks.deploy.snapshot import snapshot_folder
    from lakeworks.deploy.validate import validate_files
    from lakeworks.security.workspaces import WorkspaceRepository

    home = load(workspace or directory)
    db = open_database(home)
    try:
        _register(db, home)
        record = WorkspaceRepository(db).get(home.name)
        if dry_run:
            snapshot = snapshot_folder(directory)
            repo = DeploymentRepository(db)
            current = repo.current(home.name, "prod")
            old = repo.release_files(current.id) if current else {}
            summary = summarize(compare(snapshot.hashes(), old))
            typer.echo(f"{summary['changes']} files changed")
            _print_changes(summary)
            report = validate_files(snapshot.files, catalog=catalog_lookup(db, "prod"))
            for problem in report.problems:
                typer.secho(f"  problem: {problem.render()}", fg=typer.colors.RED, err=True)
            if not report.ok:
                raise typer.Exit(2)
            typer.echo("valid")
            return
        service = DeploymentService(db, home.name, require_approval=record.require_approval)
        deployment = service.create_from_folder(
            directory, actor=cli_actor(), description=message, source=f"folder {directory}"
        )
        _audit(db, "deploy_create", f"deployment {deployment.id}", workspace=home.name)
        _print_deployment(deployment)
        if deployment.state is DeploymentState.INVALID:
            raise typer.Exit(2)
        if deployment.state is DeploymentState.PENDING_APPROVAL:
            typer.echo(
                f"waiting for approval: lakeworks deployments approve {deployment.id}"
                " (by a deployer other than the author), then apply"
            )
            return
        release = service.apply(deployment.id, actor=cli_actor())
        _audit(db, "deploy_apply", f"deployment {deployment.id}", workspace=home.name)
        typer.secho(f"applied: prod is at release {release.number}", fg=typer.colors.GREEN)
    finally:
        db.close()


def _service(workspace: Path) -> tuple[Database, Workspace, DeploymentService]:
    from lakeworks.deploy.service import DeploymentService
    from lakeworks.security.workspaces import WorkspaceRepository

    ws = load(workspace)
    db = open_database(ws)
    _register(db, ws)
    record = WorkspaceRepository(db).get(ws.name)
    return db, ws, DeploymentService(db, ws.name, require_approval=record.require_approval)


@deployments_app.command("list")
@handle_errors
def deployments_list(workspace: WorkspaceOption = Path(".")) -> None:
    """Deployments to prod, newest first, and the current release."""
    db, ws, service = _service(workspace)
    try:
        repo = service.repo
        current = repo.current(ws.name, "prod")
        typer.echo(f"prod release: {current.number if current else 'none'}")
        for d in repo.list(ws.name, "prod", limit=50):
            typer.echo(
                f"{d.id:>5}  {d.state.value:<17} {d.kind:<8} by {d.created_by:<16}"
                f" release={d.release or '-'}  {d.description}"
            )
    finally:
        db.close()


@deployments_app.command("show")
@handle_errors
def deployments_show(
    deployment_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOption = Path("."),
    diff: Annotated[bool, typer.Option("--diff", help="Show the file diffs.")] = False,
) -> None:
    db, _ws, service = _service(workspace)
    try:
        _print_deployment(service.get(deployment_id))
        if diff:
            for text in service.diff(deployment_id).values():
                typer.echo(text)
    finally:
        db.close()


@deployments_app.command("approve")
@handle_errors
def deployments_approve(
    deployment_id: Annotated[int, typer.Argument()],
    workspace: WorkspaceOption = Path("."),
    as_user: Annotated[
        str | None, typer.Option("--as", help="The deployer approving (default: you).")
    ] = None,
) -> None:
    db, ws, service = _service(workspace)
    try:
        actor = as_user or cli_actor()
        deployment = service.approve(deployment_id, actor=actor)
        _audit(db, "deploy_approve", f"deployment {deployment_id}", workspace=ws.name, by=actor)
        typer.echo(f"deployment {deployment_id}: {deployment.state.value}")
    finally:
        db.close()


@deployments_app.command("apply")
@handle_errors
def deployments_apply(
    deployment_id: Annotated[int, typer.Argument()], workspace: WorkspaceOption = Path(".")
) -> None:
    db, ws, service = _service(workspace)
    try:
        release = service.apply(deployment_id, actor=cli_actor())
        _audit(db, "deploy_apply", f"deployment {deployment_id}", workspace=ws.name)
        typer.secho(f"applied: prod is at release {release.number}", fg=typer.colors.GREEN)
    finally:
        db.close()


@deployments_app.command("rollback")
@handle_errors
def deployments_rollback(
    release: Annotated[int, typer.Argument(help="The release to restore.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Restore an earlier release exactly (applied at once unless approval is needed)."""
    from lakeworks.deploy.models import DeploymentState

    db, ws, service = _service(workspace)
    try:
        deployment = service.create_rollback(release, actor=cli_actor())
        _audit(db, "deploy_rollback", f"release {release}", workspace=ws.name)
        _print_deployment(deployment)
        if deployment.state is DeploymentState.READY:
            applied = service.apply(deployment.id, actor=cli_actor())
            typer.secho(f"applied: prod is at release {applied.number}", fg=typer.colors.GREEN)
    finally:
        db.close()


# -- secrets ---------------------------------------------------------------------------


@secrets_app.command("rotate-key")
@handle_errors
def rotate_key(
    workspace: WorkspaceOption = Path("."),
    keep_old: Annotated[
        bool, typer.Option("--keep-old", help="Keep the old key for decrypting too.")
    ] = False,
) -> None:
    """Make a new key and re-encrypt every stored secret with it (one transaction)."""
    from lakeworks.security.secrets import ENV_SECRET_KEY, load_keys, rotate_key

    ws = load(workspace)
    db = open_database(ws)
    try:
        source = load_keys(ws.state_dir, create=False)
        rotation = rotate_key(db, source, keep_old=keep_old)
        _audit(db, "secrets_rotate_key", "secret key", reencrypted=rotation.reencrypted)
        typer.echo(f"re-encrypted {rotation.reencrypted} secrets with a new key")
        if rotation.key_file is not None:
            typer.echo(f"the key file {rotation.key_file} holds the new key")
        else:
            typer.secho(
                f"set {ENV_SECRET_KEY} to the new key before the next start:",
                fg=typer.colors.YELLOW,
                err=True,
            )
            typer.echo(rotation.new_key.decode())
    finally:
        db.close()


@secrets_app.command("new-key")
def new_key() -> None:
    """Print a new random key (for LAKEWORKS_SECRET_KEY)."""
    from lakeworks.security.secrets import SecretBox

    typer.echo(SecretBox.new_key().decode())


@secrets_app.command("encrypt")
@handle_errors
def encrypt(workspace: WorkspaceOption = Path(".")) -> None:
    """Encrypt a value read from standard input, for ``password_encrypted:`` in a file."""
    from lakeworks.security.secrets import SecretBox, load_keys

    ws = load(workspace)
    value = sys.stdin.readline().rstrip("\n")
    if not value:
        typer.secho("nothing on standard input", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(SecretBox(load_keys(ws.state_dir, create=True).keys).encrypt(value))


# -- users and tokens ------------------------------------------------------------------


def _users(db: Database) -> UserRepository:
    from lakeworks.security.passwords import Passwords
    from lakeworks.security.users import UserRepository

    return UserRepository(db, Passwords())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        typer.secho("the passwords differ", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    return str(first)


@users_app.command("create")
@handle_errors
def users_create(
    username: Annotated[str, typer.Argument()],
    workspace: WorkspaceOption = Path("."),
    superuser: Annotated[bool, typer.Option("--superuser", help="Installation admin.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="A user for API tokens only.")
    ] = False,
) -> None:
    ws = load(workspace)
    db = open_database(ws)
    try:
        password = None if no_password else _read_password(password_stdin)
        user = _users(db).create(username, password, superuser=superuser)
        _audit(db, "user_create", f"user {user.username}", superuser=superuser)
        typer.echo(f"created user {user.username}")
    finally:
        db.close()


@users_app.command("list")
@handle_errors
def users_list(workspace: WorkspaceOption = Path(".")) -> None:
    from lakeworks.security.members import MemberRepository

    ws = load(workspace)
    db = open_database(ws)
    try:
        members = MemberRepository(db)
        for user in _users(db).list(limit=10000):
            roles = members.workspaces_of(user.id)
            shown = "; ".join(f"{w}: {','.join(sorted(r))}" for w, r in roles.items())
            flags = " (admin)" if user.is_superuser else ""
            flags += " (disabled)" if user.disabled else ""
            typer.echo(f"{user.username}{flags}  {shown}")
    finally:
        db.close()


@users_app.command("set-password")
@handle_errors
def users_set_password(
    username: Annotated[str, typer.Argument()],
    workspace: WorkspaceOption = Path("."),
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    from lakeworks.security.credentials import SessionRepository

    ws = load(workspace)
    db = open_database(ws)
    try:
        users = _users(db)
        user = users.by_name(username)
        users.set_password(user.id, _read_password(password_stdin))
        SessionRepository(db).revoke_all(user.id)
        _audit(db, "user_set_password", f"user {user.username}")
        typer.echo(f"password of {user.username} changed; their sessions ended")
    finally:
        db.close()


@users_app.command("roles")
@handle_errors
def users_roles(
    username: Annotated[str, typer.Argument()],
    roles: Annotated[list[str], typer.Argument(help="Roles in the workspace; none removes.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Set a user's roles in the workspace (owner, admin, developer, operator, deployer,
    viewer, security_admin)."""
    from lakeworks.security.members import MemberRepository
    from lakeworks.security.permissions import parse_role

    ws = load(workspace)
    db = open_database(ws)
    try:
        _register(db, ws)
        user = _users(db).by_name(username)
        parsed = [parse_role(r) for r in roles]
        MemberRepository(db).set_roles(ws.name, user.id, parsed, actor=cli_actor())
        _audit(db, "member_roles", f"user {user.username}", workspace=ws.name, roles=roles)
        typer.echo(f"{user.username} in {ws.name}: {', '.join(r.value for r in parsed) or 'none'}")
    finally:
        db.close()


@tokens_app.command("create")
@handle_errors
def tokens_create(
    username: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    workspace: WorkspaceOption = Path("."),
    days: Annotated[int, typer.Option("--days", help="Days until it expires.")] = 90,
) -> None:
    """Create an API token for a user and print it (shown once)."""
    from lakeworks.security.credentials import TokenRepository
    from lakeworks.store.clock import utcnow

    ws = load(workspace)
    db = open_database(ws)
    try:
        user = _users(db).by_name(username)
        secret, token = TokenRepository(db).create(
            user.id, name, expires_at=utcnow() + timedelta(days=days)
        )
        _audit(db, "token_create", f"token {token.id}", user=user.username)
        typer.echo(secret)
    finally:
        db.close()


@tokens_app.command("list")
@handle_errors
def tokens_list(
    username: Annotated[str, typer.Argument()], workspace: WorkspaceOption = Path(".")
) -> None:
    from lakeworks.security.credentials import TokenRepository

    ws = load(workspace)
    db = open_database(ws)
    try:
        user = _users(db).by_name(username)
        for token in TokenRepository(db).list(user.id):
            state = "revoked" if token.revoked_at else f"expires {token.expires_at}"
            typer.echo(f"{token.id:>5}  lwk_{token.prefix}_…  {token.name}  {state}")
    finally:
        db.close()


@tokens_app.command("revoke")
@handle_errors
def tokens_revoke(
    token_id: Annotated[int, typer.Argument()], workspace: WorkspaceOption = Path(".")
) -> None:
    from lakeworks.security.credentials import TokenRepository

    ws = load(workspace)
    db = open_database(ws)
    try:
        TokenRepository(db).revoke(token_id)
        _audit(db, "token_revoke", f"token {token_id}")
        typer.echo(f"token {token_id} revoked")
    finally:
        db.close()


def register(app: typer.Typer) -> None:
    """Attach the server commands and groups to the root app."""
    app.command()(up)
    app.command()(deploy)
    app.add_typer(deployments_app, name="deployments")
    app.add_typer(secrets_app, name="secrets")
    from lakeworks.cli import signins

    signins.register(users_app)
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
