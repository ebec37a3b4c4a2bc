"""Local users: create, find, change password, disable; the first administrator."""

from __future__ import annotations

import builtins
import re
from typing import Any

import sqlalchemy as sa

from lakeworks.errors import Conflict, NotFound, UserError
from lakeworks.security.models import User
from lakeworks.security.passwords import Passwords, generate_password
from lakeworks.security.tables import users
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

USERNAME_PATTERN = re.compile(r"\A[a-z0-9][a-z0-9._@-]{0,63}\Z")
ADMIN_PASSWORD_ENV = "LAKEWORKS_ADMIN_PASSWORD"


def normalise_username(name: str) -> str:
    """The stored form of a user name (lower case); ``UserError`` when it is invalid."""
    cleaned = name.strip().lower()
    if not USERNAME_PATTERN.match(cleaned):
        raise UserError(
            f"invalid user name '{name}'",
            hint="1-64 characters: letters, digits, '.', '_', '@' and '-', starting with"
            " a letter or digit",
        )
    return cleaned


def _user(row: sa.Row[Any]) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        username=m["username"],
        display_name=m["display_name"],
        is_superuser=bool(m["is_superuser"]),
        disabled=bool(m["disabled"]),
        created_at=m["created_at"],
        last_login_at=m["last_login_at"],
        has_password=m["password_hash"] is not None,
    )


class UserRepository:
    """Users of the installation."""

    def __init__(self, db: Database, passwords: Passwords) -> None:
        self._db = db
        self.passwords = passwords

    def create(
        self,
        username: str,
        password: str | None,
        *,
        superuser: bool = False,
        display_name: str | None = None,
    ) -> User:
        """A new user; ``Conflict`` if the name is taken. Without a password the user
        can only use API tokens made for them by an administrator."""
        name = normalise_username(username)
        hashed = None if password is None else self.passwords.hash(password)
        now = utcnow()
        values = {
            "username": name,
            "display_name": display_name,
            "password_hash": hashed,
            "is_superuser": superuser,
            "disabled": False,
            "created_at": now,
            "password_changed_at": now if hashed else None,
            "last_login_at": None,
        }
        try:
            with self._db.write() as conn:
                row = conn.execute(sa.insert(users).values(values).returning(*users.c)).one()
        except sa.exc.IntegrityError:
            raise Conflict(f"user '{name}' already exists") from None
        return _user(row)

    def get(self, user_id: int) -> User:
        with self._db.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).one_or_none()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        return _user(row)

    def find(self, username: str) -> User | None:
        """The user named ``username`` (any case), or None."""
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(users).where(users.c.username == username.strip().lower())
            ).one_or_none()
        return None if row is None else _user(row)

    def by_name(self, username: str) -> User:
        found = self.find(username)
        if found is None:
            raise NotFound(f"user '{username}' does not exist")
        return found

    def count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def list(self, *, after_id: int | None = None, limit: int = 100) -> builtins.list[User]:
        """Users in id order; ``after_id`` continues a previous page."""
        query = sa.select(users).order_by(users.c.id).limit(limit)
        if after_id is not None:
            query = query.where(users.c.id > after_id)
        with self._db.read() as conn:
            return [_user(row) for row in conn.execute(query)]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password matches and the account is enabled, else None.

        Takes as long for an unknown user as for a wrong password.
        """
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(users).where(users.c.username == username.strip().lower())
            ).one_or_none()
        hashed = None if row is None else row._mapping["password_hash"]
        if not self.passwords.verify(hashed, password) or row is None:
            return None
        user = _user(row)
        if user.disabled:
            return None
        assert hashed is not None
        changes: dict[str, Any] = {"last_login_at": utcnow()}
        if self.passwords.needs_rehash(hashed):
            changes["password_hash"] = self.passwords.hash(password)
        with self._db.write() as conn:
            conn.execute(sa.update(users).where(users.c.id == user.id).values(changes))
        return user

    def set_password(self, user_id: int, password: str) -> None:
        hashed = self.passwords.hash(password)
        self._update(user_id, password_hash=hashed, password_changed_at=utcnow())

    def set_disabled(self, user_id: int, disabled: bool) -> User:
        return self._update(user_id, disabled=disabled)

    def set_superuser(self, user_id: int, superuser: bool) -> User:
        if not superuser and self.get(user_id).is_superuser and self._superusers() <= 1:
            raise Conflict("cannot remove the last installation administrator")
        return self._update(user_id, is_superuser=superuser)

    def update_profile(self, user_id: int, display_name: str | None) -> User:
        return self._update(user_id, display_name=display_name)

    def ensure_admin(self, username: str = "admin", password: str | None = None) -> str | None:
        """On first start (no user at all) create a superuser; returns the password
        when one was generated (to print once), else None."""
        if self.count() > 0:
            return None
        generated = password is None
        secret = password or generate_password()
        try:
            self.create(username, secret, superuser=True, display_name="Administrator")
        except Conflict:
            return None  # another process created it first
        return secret if generated else None

    def _superusers(self) -> int:
        query = sa.select(sa.func.count()).select_from(users).where(users.c.is_superuser.is_(True))
        with self._db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def _update(self, user_id: int, **values: Any) -> User:
        with self._db.write() as conn:
            row = conn.execute(
                sa.update(users).where(users.c.id == user_id).values(values).returning(*users.c)
            ).one_or_none()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        return _user(row)
