"""PostgreSQL connections of a data source: the ``type: postgres`` configuration, how
connections are opened (password resolved once, never logged) and how driver errors
become Lakeworks errors. Shared by the source (``postgres``) and the sink
(``postgres_sink``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator

from lakeworks.connectors.base import ConnectorConfig
from lakeworks.connectors.credentials import redact, resolve_password
from lakeworks.errors import LakeworksError, TransientError, UserError

if TYPE_CHECKING:
    import psycopg


_SECRET_OPTIONS = {"password", "passfile", "sslpassword"}
"""libpq parameters that hold (or point at) a password, refused in ``options``."""


class Config(ConnectorConfig):
    """``type: postgres`` — host, port, database, user and an indirect password."""

    type: Literal["postgres"] = "postgres"
    host: str = "127.0.0.1"
    port: int = Field(default=5432, ge=1, le=65535)
    database: str
    user: str = "postgres"
    password_env: str | None = None
    password_encrypted: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    connect_timeout: int = Field(default=10, ge=1)
    application_name: str = "lakeworks"
    reader: Literal["auto", "direct", "psql", "psycopg"] = "auto"
    """How the COPY stream travels: ``direct`` on the connection's own socket (plain
    connections), ``psql`` through the PostgreSQL client (any connection), ``psycopg``
    through libpq row by row. ``auto`` takes direct, else psql, else psycopg."""
    options: dict[str, str] = Field(default_factory=dict)
    """Further libpq connection parameters (``sslmode``, ``target_session_attrs``…)."""

    @field_validator("options")
    @classmethod
    def _no_secrets(cls, options: dict[str, str]) -> dict[str, str]:
        for key in options:
            if key.lower() in _SECRET_OPTIONS:
                raise ValueError(
                    f"'{key}' is not allowed: passwords are never written in workspace "
                    "files; use password_env or password_encrypted"
                )
        return options


def translate_error(exc: Exception, name: str) -> LakeworksError:
    import psycopg
    from psycopg import errors as pg_errors

    message = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    transient = (
        psycopg.OperationalError,
        pg_errors.SerializationFailure,
        pg_errors.DeadlockDetected,
        pg_errors.LockNotAvailable,
    )
    if isinstance(exc, transient) or (
        isinstance(exc, psycopg.InterfaceError) and "closed" in message
    ):
        return TransientError(
            f"PostgreSQL '{name}': {message}", hint="the connection failed; the sync is retried"
        )
    return UserError(f"PostgreSQL '{name}': {message}")


class PgConnection:
    """Opens connections for one data source; password resolved once, never logged."""

    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config
        self._password = resolve_password(name, config.password_env, config.password_encrypted)

    @property
    def password(self) -> SecretStr | None:
        return self._password

    def _params(self) -> dict[str, Any]:
        c = self.config
        return {
            "host": c.host,
            "port": c.port,
            "dbname": c.database,
            "user": c.user,
            "connect_timeout": c.connect_timeout,
            "application_name": c.application_name,
            "client_encoding": "UTF8",
            "options": "-c TimeZone=UTC -c DateStyle=ISO"
            + (f" -c search_path={c.schema_}" if c.schema_ else ""),
            **c.options,
        }

    def conninfo(self, **overrides: str) -> str:
        """The connection string without the password (safe on a command line)."""
        from psycopg.conninfo import make_conninfo

        params = {**self._params(), **overrides}
        return make_conninfo(**{k: str(v) for k, v in params.items()})

    def connect(self) -> psycopg.Connection[Any]:
        import psycopg

        kwargs = self._params()
        if self._password is not None:
            kwargs["password"] = self._password.get_secret_value()
        try:
            return psycopg.connect(**kwargs)
        except Exception as exc:
            raise translate_error(exc, self.name) from None

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Translate driver errors into Lakeworks errors (messages redacted)."""
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise translate_error(exc, self.name) from None
