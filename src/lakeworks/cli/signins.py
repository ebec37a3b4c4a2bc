"""Sign-in locks: ``lakeworks users locks`` and ``lakeworks users unlock``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from lakeworks.cli.common import WorkspaceOption, handle_errors, load, open_database


@handle_errors
def users_locks(workspace: WorkspaceOption = Path(".")) -> None:
    """List the sign-in locks in force (a user name from one address, or an address)."""
    from lakeworks.security.throttle import LoginThrottle

    db = open_database(load(workspace))
    try:
        locks = LoginThrottle(db).locks()
        for key, until in locks:
            typer.echo(f"{key}  until {until:%Y-%m-%d %H:%M:%S} UTC")
        if not locks:
            typer.echo("no sign-in is locked")
    finally:
        db.close()


@handle_errors
def users_unlock(
    username: Annotated[
        str | None, typer.Argument(help="The user name to unlock from every address.")
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Also (or only) unlock this client address.")
    ] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Lift sign-in locks early: a user's (from every address) and/or an address's."""
    from lakeworks.errors import UserError
    from lakeworks.security.audit import AuditLog
    from lakeworks.security.secrets import redact
    from lakeworks.security.throttle import LoginThrottle

    if username is None and address is None:
        raise UserError("name a user, an --address, or both", hint="lakeworks users locks")
    db = open_database(load(workspace))
    try:
        cleared = LoginThrottle(db).unlock(username, address)
        target = " and ".join(
            part
            for part in (username and f"user {username}", address and f"address {address}")
            if part
        )
        AuditLog(db, redact).record(
            actor=_actor(), action="signin_unlock", target=target, detail={"cleared": cleared}
        )
        typer.echo(f"unlocked {target} ({cleared} lock record(s) cleared)")
    finally:
        db.close()


def _actor() -> str:
    """The audit actor of a local command (as ``lakeworks users`` records it)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def register(users_app: typer.Typer) -> None:
    users_app.command("locks")(users_locks)
    users_app.command("unlock")(users_unlock)
