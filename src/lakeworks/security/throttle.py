"""Brute-force protection on login: failures counted in the store (so every server
process sees them) per account *and* client address together, and per client address;
too many within a window lock that key for a while — even the right password is
refused while it is locked.

An account is never locked as a whole: guessing ``admin``'s password from one address
locks ``admin`` from that address only, so nobody can lock a named account out
remotely. An administrator lifts locks early with ``unlock``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from lakeworks.security.tables import login_failures
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database


@dataclass(frozen=True)
class LockoutPolicy:
    user_failures: int = 5
    """Failed logins for one user name from one client address within ``window`` that
    lock that user name from that address."""
    address_failures: int = 50
    """Failed logins from one client address within ``window`` that lock it."""
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)


ACCOUNT = "account:"
"""Prefix of the keys of one user name from one address: ``account:<name>|<address>``."""
ADDRESS = "ip:"


def _account_prefix(username: str) -> str:
    return f"{ACCOUNT}{username.strip().lower()}|"


def throttle_keys(username: str, client_ip: str | None) -> list[str]:
    """The keys a login attempt counts against: the user name from this address, and
    the address."""
    keys = [f"{_account_prefix(username)}{client_ip or '-'}"]
    if client_ip:
        keys.append(f"{ADDRESS}{client_ip}")
    return keys


class LoginThrottle:
    """Count failures and lock keys according to a ``LockoutPolicy``."""

    def __init__(self, db: Database, policy: LockoutPolicy | None = None) -> None:
        self._db = db
        self.policy = policy or LockoutPolicy()

    def locked_until(self, keys: Sequence[str], now: datetime | None = None) -> datetime | None:
        """The latest lock expiry among ``keys`` if any is locked now, else None."""
        at = now or utcnow()
        query = sa.select(sa.func.max(login_failures.c.locked_until)).where(
            login_failures.c.key.in_(list(keys)), login_failures.c.locked_until > at
        )
        with self._db.read() as conn:
            value: datetime | None = conn.execute(query).scalar_one_or_none()
        return value

    def failure(self, keys: Sequence[str], now: datetime | None = None) -> datetime | None:
        """Count a failed attempt; returns the lock expiry if this locked a key."""
        at = now or utcnow()
        try:
            return self._count(keys, at)
        except sa.exc.IntegrityError:
            return self._count(keys, at)  # another process inserted the first failure

    def _count(self, keys: Sequence[str], at: datetime) -> datetime | None:
        locked: datetime | None = None
        with self._db.write() as conn:
            for key in keys:
                limit = (
                    self.policy.user_failures
                    if key.startswith(ACCOUNT)
                    else self.policy.address_failures
                )
                row = conn.execute(
                    sa.select(login_failures).where(login_failures.c.key == key).with_for_update()
                ).one_or_none()
                if row is None or at - row.window_started_at > self.policy.window:
                    failures, started = 1, at
                else:
                    failures, started = row.failures + 1, row.window_started_at
                until = at + self.policy.lock_for if failures >= limit else None
                if until is not None:
                    locked = max(locked, until) if locked else until
                    failures, started = 0, at  # a fresh window after the lock
                values: dict[str, object] = {"failures": failures, "window_started_at": started}
                if until is not None:
                    values["locked_until"] = until
                if row is None:
                    conn.execute(
                        sa.insert(login_failures).values(key=key, locked_until=until, **values)
                    )
                else:
                    conn.execute(
                        sa.update(login_failures).where(login_failures.c.key == key).values(values)
                    )
        return locked

    def success(self, keys: Sequence[str]) -> None:
        """Forget the failures of the user name from this address after a successful
        login."""
        user_keys = [k for k in keys if k.startswith(ACCOUNT)]
        if not user_keys:
            return
        with self._db.write() as conn:
            conn.execute(sa.delete(login_failures).where(login_failures.c.key.in_(user_keys)))

    def unlock(self, username: str | None = None, address: str | None = None) -> int:
        """Lift the locks and forget the failures of a user name (from every address)
        and/or of a client address; returns how many keys were cleared."""
        if username is None and address is None:
            raise ValueError("unlock needs a user name or an address")
        conditions: list[sa.ColumnElement[bool]] = []
        if username is not None:
            prefix = _account_prefix(username)
            conditions.append(login_failures.c.key.startswith(prefix, autoescape=True))
        if address is not None:
            conditions.append(login_failures.c.key == f"{ADDRESS}{address}")
            conditions.append(login_failures.c.key.endswith(f"|{address}", autoescape=True))
        with self._db.write() as conn:
            result = conn.execute(sa.delete(login_failures).where(sa.or_(*conditions)))
        return int(result.rowcount or 0)

    def locks(self, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """The keys locked now with their expiry, e.g. ``("account:admin|10.0.0.7", …)``."""
        at = now or utcnow()
        query = (
            sa.select(login_failures.c.key, login_failures.c.locked_until)
            .where(login_failures.c.locked_until > at)
            .order_by(login_failures.c.key)
        )
        with self._db.read() as conn:
            return [(row.key, row.locked_until) for row in conn.execute(query)]
