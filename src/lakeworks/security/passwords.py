"""Password hashing with argon2id, the password policy and generated passwords."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lakeworks.errors import UserError

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class HashCost:
    """argon2id cost parameters (the library defaults unless lowered for tests)."""

    time_cost: int = 3
    memory_cost: int = 65536
    parallelism: int = 4


CHEAP = HashCost(time_cost=1, memory_cost=1024, parallelism=1)
"""A cost for tests and benchmarks only: still argon2id, but fast."""


def check_policy(password: str) -> None:
    """``UserError`` unless ``password`` is acceptable (long enough, not blank)."""
    if len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise UserError(
            f"the password must have at least {MIN_PASSWORD_LENGTH} characters",
            hint="use a passphrase or a generated password",
        )


def generate_password() -> str:
    """A random password of 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


class Passwords:
    """Hash and verify passwords (argon2id)."""

    def __init__(self, cost: HashCost | None = None) -> None:
        cost = cost or HashCost()
        self._hasher = PasswordHasher(
            time_cost=cost.time_cost,
            memory_cost=cost.memory_cost,
            parallelism=cost.parallelism,
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` after checking the policy."""
        check_policy(password)
        return self._hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        """Whether ``password`` matches ``hashed``. With no hash (unknown user, no
        password set) a dummy hash is checked, so the answer takes as long."""
        try:
            return self._hasher.verify(hashed or self._dummy, password) and hashed is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(hashed)
