"""``install_workspace_key``: what every command that may open a data source calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeworks.connectors.credentials import resolve_password, set_decryptor
from lakeworks.errors import UserError
from lakeworks.security.secrets import (
    ENV_SECRET_KEY,
    SecretBox,
    SecretStore,
    install_workspace_key,
    load_keys,
    reference,
)
from lakeworks.store.database import Database


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.delenv(ENV_SECRET_KEY, raising=False)
    set_decryptor(None)  # another test of this process may have installed one
    database = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield database
    set_decryptor(None)
    database.close()


def test_without_a_key_nothing_is_installed_and_no_key_is_made(
    tmp_path: Path, db: Database
) -> None:
    state = tmp_path / ".lakeworks"
    assert install_workspace_key(state, db) is False
    assert not (state / "secret.key").exists()
    with pytest.raises(UserError, match="has an encrypted password but no key is loaded"):
        resolve_password("pg", None, "token")


def test_the_key_file_decrypts_tokens_and_stored_secrets(tmp_path: Path, db: Database) -> None:
    state = tmp_path / ".lakeworks"
    box = SecretBox(load_keys(state, create=True).keys)
    token = box.encrypt("from-a-file")
    SecretStore(db, box).put("ws", "pg.password", "from-the-store", actor="test")
    assert install_workspace_key(state, db) is True
    found = resolve_password("pg", None, token)
    assert found is not None and found.get_secret_value() == "from-a-file"
    stored = resolve_password("pg", None, reference("ws", "pg.password"))
    assert stored is not None and stored.get_secret_value() == "from-the-store"
    with pytest.raises(UserError, match=r"secret 'other\.password' does not exist"):
        resolve_password("pg", None, reference("ws", "other.password"))


def test_the_key_from_the_environment(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SecretBox.new_key()
    monkeypatch.setenv(ENV_SECRET_KEY, key.decode())
    token = SecretBox([key]).encrypt("from-the-env")
    assert install_workspace_key(tmp_path / ".lakeworks", db) is True
    found = resolve_password("pg", None, token)
    assert found is not None and found.get_secret_value() == "from-the-env"
    other = SecretBox([SecretBox.new_key()]).encrypt("x")
    with pytest.raises(UserError, match="cannot be decrypted"):
        resolve_password("pg", None, other)
