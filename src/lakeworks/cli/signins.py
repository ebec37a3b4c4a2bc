"""Sign-in locks: ``lakeworks users locks`` and ``lakeworks users unlock``."""

from __future__ import annotations

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
    from lakeworks.cli.server import _audit
    from lakeworks.errors import UserError
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
        _audit(db, "signin_unlock", target, cleared=cleared)
        typer.echo(f"unlocked {target} ({cleared} lock record(s) cleared)")
    finally:
        db.close()


def register(users_app: typer.Typer) -> None:
    users_app.command("locks")(users_locks)
    users_app.command("unlock")(users_unlock)
