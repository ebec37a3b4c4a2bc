"""Login sessions (cookie + CSRF token) and personal API tokens, hashed at rest.

Session ids and API tokens are random (256 bits); the store keeps only their SHA-256,
so a copy of the database does not let anyone sign in. An API token reads
``lwk_<prefix>_<secret>``; the prefix identifies it in listings.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from lakeworks.errors import NotFound, UserError
from lakeworks.security.models import ApiToken, LoginSession, User
from lakeworks.security.tables import api_tokens, user_sessions, users
from lakeworks.store.clock import optional_utc_naive, utcnow
from lakeworks.store.database import Database

TOKEN_PREFIX = "lwk_"
TOUCH_INTERVAL = timedelta(minutes=1)
"""How often the last-seen/last-used time of a session or token is written."""


def digest(secret: str) -> str:
    """The SHA-256 (hex) under which a session id or token is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())


_USER_COLUMNS = (
    users.c.username,
    users.c.display_name,
    users.c.is_superuser,
    users.c.created_at.label("user_created_at"),
    users.c.last_login_at,
    users.c.password_hash.is_not(None).label("has_password"),
)


def _joined_user(row: Any) -> User:
    m = row._mapping
    return User(
        id=m["user_id"],
        username=m["username"],
        display_name=m["display_name"],
        is_superuser=bool(m["is_superuser"]),
        disabled=False,
        created_at=m["user_created_at"],
        last_login_at=m["last_login_at"],
        has_password=bool(m["has_password"]),
    )


def _session(row: Any) -> LoginSession:
    m = row._mapping
    return LoginSession(
        id=m["id"],
        user_id=m["user_id"],
        csrf_token=m["csrf_token"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        client_ip=m["client_ip"],
    )


def _token(row: Any) -> ApiToken:
    m = row._mapping
    return ApiToken(
        id=m["id"],
        user_id=m["user_id"],
        name=m["name"],
        prefix=m["prefix"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        last_used_at=m["last_used_at"],
        revoked_at=m["revoked_at"],
    )


class SessionRepository:
    """Console login sessions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        user_id: int,
        ttl: timedelta,
        *,
        client_ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[str, LoginSession]:
        """A new session: returns the session id to put in the cookie (shown once)."""
        secret = secrets.token_urlsafe(32)
        now = utcnow()
        values = {
            "token_hash": digest(secret),
            "user_id": user_id,
            "csrf_token": secrets.token_urlsafe(32),
            "created_at": now,
            "expires_at": now + ttl,
            "last_seen_at": now,
            "client_ip": client_ip,
            "user_agent": (user_agent or "")[:500] or None,
            "revoked_at": None,
        }
        with self._db.write() as conn:
            row = conn.execute(
                sa.insert(user_sessions).values(values).returning(*user_sessions.c)
            ).one()
        return secret, _session(row)

    def resolve(self, secret: str) -> tuple[LoginSession, User] | None:
        """The live session and its (enabled) user for a cookie value, or None."""
        now = utcnow()
        query = (
            sa.select(*user_sessions.c, *_USER_COLUMNS)
            .join(users, users.c.id == user_sessions.c.user_id)
            .where(
                user_sessions.c.token_hash == digest(secret),
                user_sessions.c.revoked_at.is_(None),
                user_sessions.c.expires_at > now,
                users.c.disabled.is_(False),
            )
        )
        with self._db.read() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            return None
        session, user = _session(row), _joined_user(row)
        if now - row.last_seen_at > TOUCH_INTERVAL:
            with self._db.write() as conn:
                conn.execute(
                    sa.update(user_sessions)
                    .where(user_sessions.c.id == session.id)
                    .values(last_seen_at=now)
                )
        return session, user

    def revoke(self, session_id: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                sa.update(user_sessions)
                .where(user_sessions.c.id == session_id, user_sessions.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    def revoke_all(self, user_id: int) -> int:
        """End every session of a user (password change, account disabled)."""
        with self._db.write() as conn:
            result = conn.execute(
                sa.update(user_sessions)
                .where(user_sessions.c.user_id == user_id, user_sessions.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return int(result.rowcount or 0)


class TokenRepository:
    """Personal API tokens."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self, user_id: int, name: str, *, expires_at: datetime | None
    ) -> tuple[str, ApiToken]:
        """A new token; returns its plain text (shown once) and its record."""
        label = name.strip()
        if not label or len(label) > 100:
            raise UserError("a token needs a name of 1-100 characters", hint="e.g. 'ci-deploy'")
        expires = optional_utc_naive(expires_at)
        now = utcnow()
        if expires is not None and expires <= now:
            raise UserError("the token's expiry must be in the future")
        prefix = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        values = {
            "user_id": user_id,
            "name": label,
            "prefix": prefix,
            "token_hash": digest(secret),
            "created_at": now,
            "expires_at": expires,
            "last_used_at": None,
            "revoked_at": None,
        }
        with self._db.write() as conn:
            row = conn.execute(sa.insert(api_tokens).values(values).returning(*api_tokens.c)).one()
        return secret, _token(row)

    def resolve(self, secret: str) -> tuple[ApiToken, User] | None:
        """The active token and its (enabled) user, or None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        now = utcnow()
        query = (
            sa.select(*api_tokens.c, *_USER_COLUMNS)
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(
                api_tokens.c.token_hash == digest(secret),
                api_tokens.c.revoked_at.is_(None),
                sa.or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
                users.c.disabled.is_(False),
            )
        )
        with self._db.read() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            return None
        token, user = _token(row), _joined_user(row)
        if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
            with self._db.write() as conn:
                conn.execute(
                    sa.update(api_tokens)
                    .where(api_tokens.c.id == token.id)
                    .values(last_used_at=now)
                )
        return token, user

    def list(self, user_id: int) -> builtins.list[ApiToken]:
        query = (
            sa.select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
        )
        with self._db.read() as conn:
            return [_token(row) for row in conn.execute(query)]

    def get(self, token_id: int) -> ApiToken:
        with self._db.read() as conn:
            row = conn.execute(
                sa.select(api_tokens).where(api_tokens.c.id == token_id)
            ).one_or_none()
        if row is None:
            raise NotFound(f"API token {token_id} does not exist")
        return _token(row)

    def revoke(self, token_id: int) -> ApiToken:
        """Revoke a token (idempotent); it stops working at once."""
        with self._db.write() as conn:
            conn.execute(
                sa.update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return self.get(token_id)
