"""Data source credentials: from environment variables or encrypted at rest.

A data source config names its password indirectly: ``password_env: PGPASS`` (read
from the environment when the connector opens) or ``password_encrypted: <token>``
(decrypted by the function installed with ``set_decryptor``; the security layer
installs one that holds the operator's key). Plain ``password:`` values are refused so
that secrets never sit in a workspace folder. Every message a connector raises goes
through ``redact`` so a password is never printed.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

from pydantic import SecretStr

from lakeworks.errors import NotFound, UserError

Decryptor = Callable[[str], str]

_decryptor: Decryptor | None = None
_known_secrets: set[str] = set()
_lock = threading.Lock()


def set_decryptor(decryptor: Decryptor | None) -> None:
    """Install the function that turns a ``password_encrypted`` token into the secret."""
    global _decryptor
    _decryptor = decryptor


def resolve_password(
    source_name: str, password_env: str | None, password_encrypted: str | None
) -> SecretStr | None:
    """The password of a data source, or None when it declares none.

    Raises ``UserError`` naming the variable (never a value) when it is missing.
    """
    secret: str | None = None
    if password_env:
        secret = os.environ.get(password_env)
        if secret is None:
            raise UserError(
                f"data source '{source_name}': environment variable {password_env} is not set",
                hint=f"export {password_env}=… before running, or store the password encrypted",
            )
    elif password_encrypted:
        if _decryptor is None:
            raise UserError(
                f"data source '{source_name}' has an encrypted password but no key is loaded",
                hint="set LAKEWORKS_SECRET_KEY, or keep the key that encrypted it in the "
                "workspace's .lakeworks/secret.key",
            )
        try:
            secret = _decryptor(password_encrypted)
        except NotFound as exc:
            raise UserError(
                f"data source '{source_name}': {exc.message}",
                hint="save the data source's password again",
            ) from None
        except Exception:
            raise UserError(
                f"data source '{source_name}': the encrypted password cannot be decrypted",
                hint="it was encrypted with another key; encrypt or store it again",
            ) from None
    if secret is None:
        return None
    if secret:
        remember(secret)
    return SecretStr(secret)


def remember(secret: str) -> None:
    """Make ``redact`` mask ``secret`` in this process from now on (3+ characters)."""
    if len(secret) >= 3:
        with _lock:
            _known_secrets.add(secret)


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.I)
_KEY_VALUE = re.compile(r"(?P<key>password|passwd|pwd|secret)\s*[=:]\s*\S+", re.I)


def redact(text: str) -> str:
    """``text`` with every known secret, URL password and ``password=…`` masked."""
    with _lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:***@", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group('key')}=***", text)
