"""Secrets at rest: the operator's key, encrypted stored secrets, redaction, rotation.

The key comes from ``LAKEWORKS_SECRET_KEY`` (one or more Fernet keys, newest first,
separated by commas) or from the key file ``<state dir>/secret.key``, created on first
start with 0600 permissions. Data source passwords are kept in the store encrypted
(``stored_secrets``); a data source config names one with
``password_encrypted: "lwsecret:<workspace>/<name>"``. A plain Fernet token in
``password_encrypted`` also works (made with ``lakeworks secrets encrypt``).

``redact(text)`` masks every secret this process has decrypted or stored, plus URL
passwords and ``password=…`` pairs; the instance log sink, the API error handler and
the server's log handlers all pass text through it.
"""

from __future__ import annotations

import builtins
import logging
import os
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lakeworks.connectors import credentials
from lakeworks.errors import Conflict, LakeworksError, NotFound, UserError
from lakeworks.security.tables import stored_secrets
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

ENV_SECRET_KEY = "LAKEWORKS_SECRET_KEY"
KEY_FILE = "secret.key"
REFERENCE_PREFIX = "lwsecret:"


def remember(secret: str) -> None:
    """Make ``redact`` mask ``secret`` from now on (values shorter than 4 are ignored)."""
    if len(secret) >= 4:
        credentials.remember(secret)


def redact(text: str) -> str:
    """``text`` with every known secret, URL password and ``password=…`` masked.

    One registry serves the whole process: secrets decrypted here and passwords the
    connectors resolved are masked alike, in API output, server logs and instance logs.
    """
    return credentials.redact(text)


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter: the finished line (traceback included) is redacted."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


SERVER_LOGGERS = ("", "uvicorn", "uvicorn.access", "uvicorn.error", "lakeworks")


def install_log_redaction(names: Iterable[str] = SERVER_LOGGERS) -> int:
    """Redact every line the handlers of the named loggers write; returns how many
    handlers were wrapped (call it after logging is configured)."""
    wrapped = 0
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler.formatter, RedactingFormatter):
                handler.setFormatter(RedactingFormatter(handler.formatter))
                wrapped += 1
    return wrapped


class SecretBox:
    """Encrypts and decrypts with the operator's keys (the first one encrypts).

    ``cryptography`` loads with the first box: commands on a workspace without a key
    (``lakeworks run`` most often) never need it.
    """

    def __init__(self, keys: list[bytes]) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        if not keys:
            raise UserError("no secret key given")
        try:
            self._fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError):
            raise UserError(
                "the secret key is not a valid key",
                hint="a key is 32 random bytes, URL-safe base64 (lakeworks secrets new-key)",
            ) from None
        self.keys = list(keys)
        self._multi: MultiFernet = MultiFernet(self._fernets)

    @staticmethod
    def new_key() -> bytes:
        from cryptography.fernet import Fernet

        return Fernet.generate_key()

    def encrypt(self, plain: str) -> str:
        remember(plain)
        return self._multi.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            plain = self._multi.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise UserError(
                "a stored secret cannot be decrypted with the configured key",
                hint="the key changed without a rotation; restore the previous key",
            ) from None
        remember(plain)
        return plain

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted with the first key."""
        from cryptography.fernet import InvalidToken

        try:
            return self._multi.rotate(token.encode()).decode()
        except (InvalidToken, ValueError):
            raise UserError("a stored secret cannot be decrypted with any configured key") from None


@dataclass(frozen=True)
class KeySource:
    """Where the keys came from: the environment, or a key file."""

    keys: list[bytes]
    path: Path | None

    @property
    def from_environment(self) -> bool:
        return self.path is None


def _parse_keys(text: str) -> list[bytes]:
    return [part.strip().encode() for part in text.replace("\n", ",").split(",") if part.strip()]


def load_keys(state_dir: Path, *, create: bool = True) -> KeySource:
    """The keys from ``LAKEWORKS_SECRET_KEY``, else from the key file (created with
    mode 0600 when missing and ``create``). A key file readable by others is refused."""
    env = os.environ.get(ENV_SECRET_KEY, "").strip()
    if env:
        return KeySource(_parse_keys(env), None)
    path = state_dir / KEY_FILE
    if not path.exists():
        if not create:
            raise UserError(
                f"no secret key: {ENV_SECRET_KEY} is not set and {path} does not exist",
                hint="start the server once (it creates the key file) or set the variable",
            )
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(SecretBox.new_key() + b"\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(
            f"the key file {path} can be read by other users",
            hint=f"chmod 600 {path}",
        )
    keys = _parse_keys(path.read_text(encoding="ascii"))
    if not keys:
        raise UserError(f"the key file {path} is empty", hint="restore it from a backup")
    return KeySource(keys, path)


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically (0600), keys newest first."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(b"\n".join(keys) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def reference(workspace: str, name: str) -> str:
    """The ``password_encrypted`` value that names a stored secret."""
    return f"{REFERENCE_PREFIX}{workspace}/{name}"


class SecretStore:
    """Encrypted secrets in the metadata store, per workspace.

    ``key_file``: where the keys came from when they came from a file. A secret that
    the keys in memory cannot decrypt is tried again after reading that file once more,
    so a process keeps working after ``lakeworks secrets rotate-key`` ran elsewhere.
    """

    def __init__(self, db: Database, box: SecretBox, *, key_file: Path | None = None) -> None:
        self._db = db
        self.box = box
        self.key_file = key_file
        self._lock = threading.Lock()

    def _decrypt(self, token: str) -> str:
        box = self.box
        try:
            return box.decrypt(token)
        except UserError:
            if not self.reload_keys(box):
                raise
            return self.box.decrypt(token)

    def reload_keys(self, seen: SecretBox | None = None) -> bool:
        """Read the key file again; whether other keys were found (a process rotated
        them). ``seen``: the box a failed decryption used (another thread may have
        reloaded since)."""
        if self.key_file is None:
            return False
        with self._lock:
            if seen is not None and self.box is not seen:
                return True
            try:
                keys = load_keys(self.key_file.parent, create=False).keys
            except UserError:
                return False
            if keys == self.box.keys:
                return False
            self.box = SecretBox(keys)
            return True

    def rotate_key(self, *, keep_old: bool = False) -> Rotation:
        """Rotate the key of the key file this store was opened with (see ``rotate_key``);
        this store uses the new key at once."""
        if self.key_file is None:
            raise Conflict(
                f"the secret key comes from {ENV_SECRET_KEY}, which a running server cannot change",
                hint="run 'lakeworks secrets rotate-key' where the variable is set, then "
                "set it to the printed key and restart",
            )
        with self._lock:
            rotation = rotate_key(
                self._db, KeySource(self.box.keys, self.key_file), keep_old=keep_old
            )
            self.box = SecretBox(
                [rotation.new_key, *self.box.keys] if keep_old else [rotation.new_key]
            )
        return rotation

    def put(self, workspace: str, name: str, value: str, *, actor: str) -> None:
        """Store (or replace) a secret; only its ciphertext is written."""
        if not value:
            raise UserError(f"secret '{name}' is empty")
        now = utcnow()
        ciphertext = self.box.encrypt(value)
        c = stored_secrets.c
        with self._db.write() as conn:
            updated = conn.execute(
                sa.update(stored_secrets)
                .where(c.workspace == workspace, c.name == name)
                .values(ciphertext=ciphertext, updated_at=now, updated_by=actor)
            )
            if not updated.rowcount:
                conn.execute(
                    sa.insert(stored_secrets).values(
                        workspace=workspace,
                        name=name,
                        ciphertext=ciphertext,
                        created_at=now,
                        updated_at=now,
                        updated_by=actor,
                    )
                )

    def get(self, workspace: str, name: str) -> str:
        c = stored_secrets.c
        with self._db.read() as conn:
            token = conn.execute(
                sa.select(c.ciphertext).where(c.workspace == workspace, c.name == name)
            ).scalar_one_or_none()
        if token is None:
            raise NotFound(f"secret '{name}' does not exist in workspace '{workspace}'")
        return self._decrypt(token)

    def names(self, workspace: str) -> builtins.list[str]:
        c = stored_secrets.c
        with self._db.read() as conn:
            return list(
                conn.execute(
                    sa.select(c.name).where(c.workspace == workspace).order_by(c.name)
                ).scalars()
            )

    def count(self) -> int:
        """How many secrets are stored, in every workspace."""
        with self._db.read() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(stored_secrets)).scalar_one()
            )

    def delete(self, workspace: str, name: str) -> bool:
        c = stored_secrets.c
        with self._db.write() as conn:
            result = conn.execute(
                sa.delete(stored_secrets).where(c.workspace == workspace, c.name == name)
            )
        return bool(result.rowcount)

    def resolve(self, token: str) -> str:
        """Decrypt a ``password_encrypted`` value: a stored-secret reference or a token."""
        if token.startswith(REFERENCE_PREFIX):
            workspace, _, name = token[len(REFERENCE_PREFIX) :].partition("/")
            return self.get(workspace, name)
        return self._decrypt(token)

    def install(self) -> None:
        """Make data source connectors decrypt through this store."""
        credentials.set_decryptor(self.resolve)

    def reencrypt_all(self, new_box: SecretBox) -> int:
        """Re-encrypt every stored secret with ``new_box``'s first key, in one
        transaction (all or nothing); returns how many were re-encrypted."""
        c = stored_secrets.c
        with self._db.write() as conn:
            rows = conn.execute(sa.select(c.id, c.ciphertext)).all()
            for id_, token in rows:
                plain = self.box.decrypt(token)
                conn.execute(
                    sa.update(stored_secrets)
                    .where(c.id == id_)
                    .values(ciphertext=new_box.encrypt(plain))
                )
        self.box = new_box
        return len(rows)

    def load_all_known(self) -> int:
        """Decrypt every stored secret once so that ``redact`` knows them all."""
        c = stored_secrets.c
        with self._db.read() as conn:
            tokens = list(conn.execute(sa.select(c.ciphertext)).scalars())
        for token in tokens:
            try:
                self.box.decrypt(token)
            except LakeworksError:
                continue
        return len(tokens)


def install_workspace_key(state_dir: Path, db: Database) -> bool:
    """Let the connectors decrypt ``password_encrypted`` with the workspace's key.

    Every command that may open a data source calls this: the key comes from
    ``LAKEWORKS_SECRET_KEY`` or ``<state dir>/secret.key``, and stored-secret
    references resolve through ``db``. Without either nothing is installed and no key
    is created, so an encrypted password fails with the connectors' clear "no key is
    loaded". Returns whether a key was installed.
    """
    if not os.environ.get(ENV_SECRET_KEY, "").strip() and not (state_dir / KEY_FILE).exists():
        return False
    source = load_keys(state_dir, create=False)
    SecretStore(db, SecretBox(source.keys), key_file=source.path).install()
    return True


@dataclass(frozen=True)
class Rotation:
    reencrypted: int
    new_key: bytes
    key_file: Path | None


def rotate_key(db: Database, source: KeySource, *, keep_old: bool = False) -> Rotation:
    """Generate a new key and re-encrypt every stored secret with it.

    With a key file: the new key is first added in front of the old ones (so a crash
    at any point leaves every secret decryptable), the secrets are re-encrypted in one
    transaction, then the old keys are dropped unless ``keep_old``. With the key in
    ``LAKEWORKS_SECRET_KEY`` the caller must give the new key to the operator, who
    sets it before the next start.
    """
    old_box = SecretBox(source.keys)
    new_key = SecretBox.new_key()
    combined = [new_key, *source.keys]
    if source.path is not None:
        write_key_file(source.path, combined)
    store = SecretStore(db, old_box)
    count = store.reencrypt_all(SecretBox(combined))
    if source.path is not None and not keep_old:
        write_key_file(source.path, [new_key])
    return Rotation(count, new_key, source.path)
