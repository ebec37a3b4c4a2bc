"""Signing in: sessions with CSRF protection, lockout after failures, API tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from lakeworks.security.permissions import Role
from lakeworks.security.tables import api_tokens, users
from lakeworks.security.throttle import LockoutPolicy
from lakeworks.store.clock import utcnow
from tests.integration.api.conftest import PASSWORD, WORKSPACE, Api, make_settings

MEMBERS = f"/api/workspaces/{WORKSPACE}/members"


def test_login_sets_an_http_only_session_cookie_and_returns_a_csrf_token(api: Api) -> None:
    api.member("dora", Role.ADMIN)
    response = api.client.post("/api/auth/login", json={"username": "Dora", "password": PASSWORD})
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("lakeworks_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session
    assert response.json()["user"]["username"] == "dora"
    assert api.client.get("/api/auth/me").json()["workspaces"] == {WORKSPACE: ["admin"]}


def test_the_session_cookie_is_marked_secure_when_configured(
    home: Path, api_factory: Callable[..., Api]
) -> None:
    api = api_factory(home, make_settings(cookie_secure=True))
    api.member("dora", Role.ADMIN)
    response = api.client.post("/api/auth/login", json={"username": "dora", "password": PASSWORD})
    session = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("lakeworks_session=")
    )
    assert "Secure" in session


def test_cookie_authenticated_writes_need_the_csrf_token(api: Api) -> None:
    api.member("dora", Role.ADMIN)
    api.member("eve")
    csrf = api.login("dora")
    body = {"roles": ["viewer"]}
    refused = api.client.put(f"{MEMBERS}/eve", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf"
    wrong = api.client.put(f"{MEMBERS}/eve", json=body, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    ok = api.client.put(f"{MEMBERS}/eve", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert api.client.get(MEMBERS).status_code == 200  # reads need no token


def test_logout_ends_the_session(api: Api) -> None:
    api.member("dora", Role.ADMIN)
    csrf = api.login("dora")
    assert api.client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert api.client.get("/api/auth/me").status_code == 401


def test_wrong_passwords_lock_the_account_even_for_the_right_password(api: Api) -> None:
    api.member("dora", Role.ADMIN)
    attempts = [
        api.client.post("/api/auth/login", json={"username": "dora", "password": "nope-nope-1"})
        for _ in range(3)
    ]
    assert [r.status_code for r in attempts] == [401, 401, 429]
    locked = api.client.post("/api/auth/login", json={"username": "dora", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked"
    assert int(locked.headers["Retry-After"]) > 0
    # an unknown user name is throttled the same way (no hint that it does not exist)
    unknown = [
        api.client.post("/api/auth/login", json={"username": "ghost", "password": "x" * 12})
        for _ in range(3)
    ]
    assert [r.status_code for r in unknown] == [401, 401, 429]


def test_a_lock_ends_after_its_time(home: Path, api_factory: Callable[..., Api]) -> None:
    policy = LockoutPolicy(user_failures=2, lock_for=timedelta(seconds=1))
    api = api_factory(home, make_settings(lockout=policy))
    api.member("dora", Role.ADMIN)
    for _ in range(2):
        api.client.post("/api/auth/login", json={"username": "dora", "password": "wrong-wrong"})
    assert (
        api.client.post(
            "/api/auth/login", json={"username": "dora", "password": PASSWORD}
        ).status_code
        == 429
    )
    time.sleep(1.1)
    assert api.login("dora")


def test_passwords_are_stored_as_argon2_hashes(api: Api) -> None:
    api.member("dora", Role.ADMIN)
    with api.services.db.read() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_api_tokens_are_hashed_at_rest_and_stop_working_when_revoked(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    created = api.client.post("/api/auth/tokens", json={"name": "ci"}, headers=admin)
    assert created.status_code == 201
    secret, token_id = created.json()["token"], created.json()["id"]
    mine = {"Authorization": f"Bearer {secret}"}
    assert api.client.get("/api/auth/me", headers=mine).status_code == 200
    with api.services.db.read() as conn:
        hashes = list(conn.execute(sa.select(api_tokens.c.token_hash)).scalars())
    assert secret not in hashes and all(len(h) == 64 for h in hashes)
    listed = api.client.get("/api/auth/tokens", headers=mine).json()["items"]
    assert all("token" not in t for t in listed)
    assert api.client.delete(f"/api/auth/tokens/{token_id}", headers=mine).status_code == 200
    refused = api.client.get("/api/auth/me", headers=mine)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]


def test_expired_tokens_are_refused(api: Api) -> None:
    headers = api.member("dora", Role.ADMIN)
    with api.services.db.write() as conn:
        conn.execute(sa.update(api_tokens).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert api.client.get("/api/auth/me", headers=headers).status_code == 401


def test_someone_elses_token_cannot_be_revoked(api: Api) -> None:
    dora = api.member("dora", Role.ADMIN)
    eve = api.member("eve", Role.VIEWER)
    token_id = api.client.get("/api/auth/tokens", headers=dora).json()["items"][0]["id"]
    assert api.client.delete(f"/api/auth/tokens/{token_id}", headers=eve).status_code == 404
    assert api.client.get("/api/auth/me", headers=dora).status_code == 200


def test_disabling_a_user_ends_their_access(api: Api) -> None:
    root = api.member("root", superuser=True)
    eve = api.member("eve", Role.VIEWER)
    changed = api.client.patch("/api/users/eve", json={"disabled": True}, headers=root)
    assert changed.status_code == 200
    assert api.client.get("/api/auth/me", headers=eve).status_code == 401
    login = api.client.post("/api/auth/login", json={"username": "eve", "password": PASSWORD})
    assert login.status_code == 401


def test_changing_the_password_needs_the_current_one(api: Api) -> None:
    dora = api.member("dora", Role.ADMIN)
    wrong = api.client.post(
        "/api/auth/password",
        json={"current_password": "not-it-at-all", "new_password": "another good one"},
        headers=dora,
    )
    assert wrong.status_code == 403
    short = api.client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=dora,
    )
    assert short.status_code == 400
    assert "at least" in short.json()["error"]["message"]
    ok = api.client.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "another good one"},
        headers=dora,
    )
    assert ok.status_code == 200
    assert api.login("dora", "another good one")


def test_an_admin_cannot_make_themselves_security_admin(api: Api) -> None:
    dora = api.member("dora", Role.ADMIN)
    refused = api.client.put(
        f"{MEMBERS}/dora", json={"roles": ["admin", "security_admin"]}, headers=dora
    )
    assert refused.status_code == 403
    sec = api.member("sam", Role.SECURITY_ADMIN)
    api.member("eve")
    granted = api.client.put(f"{MEMBERS}/eve", json={"roles": ["security-admin"]}, headers=sec)
    assert granted.status_code == 200
    assert granted.json()["roles"] == ["security_admin"]


def test_an_unknown_role_is_a_clear_error(api: Api) -> None:
    dora = api.member("dora", Role.ADMIN)
    api.member("eve")
    response = api.client.put(f"{MEMBERS}/eve", json={"roles": ["superhero"]}, headers=dora)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "unknown role 'superhero'"
    assert "developer" in error["details"]["hint"]
