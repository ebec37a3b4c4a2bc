"""The audit log: every change and data access recorded; nobody can alter it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lakeworks.errors import LakeworksError
from lakeworks.security.permissions import Role
from lakeworks.security.tables import audit_log
from lakeworks.store.database import Database
from tests.integration.api.conftest import WORKSPACE, Api

AUDIT = f"/api/workspaces/{WORKSPACE}/audit"


def entries(api: Api) -> list[dict[str, object]]:
    with api.services.db.read() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id))
        return [dict(r._mapping) for r in rows]


def test_a_change_is_recorded_with_who_what_where_and_the_result(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    api.member("eve")
    response = api.client.put(
        f"/api/workspaces/{WORKSPACE}/members/eve",
        json={"roles": ["viewer"]},
        headers={**admin, "User-Agent": "audit-test/1"},
    )
    assert response.status_code == 200
    last = entries(api)[-1]
    assert last["actor"] == "dora"
    assert last["workspace"] == WORKSPACE
    assert last["action"] == "set_member"
    assert last["method"] == "PUT"
    assert last["target"] == f"/api/workspaces/{WORKSPACE}/members/eve"
    assert (last["status"], last["outcome"]) == (200, "ok")
    assert last["client_ip"] == "testclient"
    assert last["user_agent"] == "audit-test/1"
    assert '"roles": ["viewer"]' in str(last["detail"])


def test_refused_and_failed_attempts_are_recorded_too(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    api.client.delete(f"/api/workspaces/{WORKSPACE}/members/vic", headers=viewer)
    api.client.post("/api/auth/login", json={"username": "vic", "password": "wrong-password"})
    denied, failed_login = entries(api)[-2:]
    assert (denied["actor"], denied["outcome"], denied["status"]) == ("vic", "denied", 403)
    assert failed_login["action"] == "login"
    assert (failed_login["actor"], failed_login["status"]) == ("vic", 401)


def test_data_access_is_recorded(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    response = api.client.post(
        f"/api/workspaces/{WORKSPACE}/envs/dev/query", json={"sql": "SELECT 1 AS one"}, headers=dev
    )
    assert response.status_code == 200, response.text
    last = entries(api)[-1]
    assert last["action"] == "run_query"
    assert "SELECT 1 AS one" in str(last["detail"])


def test_reading_is_not_recorded_as_a_change(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    before = len(entries(api))
    response = api.client.get(f"/api/workspaces/{WORKSPACE}/workflows", headers=viewer)
    assert response.status_code == 200
    assert len(entries(api)) == before


def test_security_admins_query_the_log_and_admins_cannot(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    security = api.member("sam", Role.SECURITY_ADMIN)
    api.client.patch(f"/api/workspaces/{WORKSPACE}", json={"require_approval": True}, headers=admin)
    assert api.client.get(AUDIT, headers=admin).status_code == 403
    first = api.client.get(AUDIT, params={"actor": "dora", "limit": 1}, headers=security).json()
    # the admin's refused look at the log is on record, then the change before it
    assert [(e["action"], e["outcome"]) for e in first["items"]] == [("workspace_audit", "denied")]
    params = {"actor": "dora", "limit": 1, "cursor": first["next_cursor"]}
    second = api.client.get(AUDIT, params=params, headers=security).json()
    assert [e["action"] for e in second["items"]] == ["update_workspace"]


def test_an_admin_cannot_alter_or_delete_the_audit_log_through_the_api(api: Api) -> None:
    admin = api.member("dora", Role.ADMIN)
    owner = api.member("olga", Role.OWNER)
    api.client.patch(f"/api/workspaces/{WORKSPACE}", json={"require_approval": True}, headers=admin)
    before = entries(api)
    target = before[-1]["id"]
    attempts = [
        ("DELETE", AUDIT),
        ("DELETE", f"{AUDIT}/{target}"),
        ("PUT", f"{AUDIT}/{target}"),
        ("PATCH", f"{AUDIT}/{target}"),
        ("POST", AUDIT),
        ("DELETE", "/api/audit"),
        ("DELETE", f"/api/audit/{target}"),
        ("PATCH", f"/api/audit/{target}"),
    ]
    for headers in (admin, owner):
        for method, path in attempts:
            response = api.client.request(method, path, json={"actor": "nobody"}, headers=headers)
            assert response.status_code in (403, 404, 405), f"{method} {path}"
    after = entries(api)
    assert after[: len(before)] == before  # nothing changed or disappeared
    tries = after[len(before) :]
    assert len(tries) == 2 * len(attempts)  # and every attempt is itself on record
    assert all(t["outcome"] in ("denied", "failed") for t in tries)


def _refuses_changes(db: Database) -> None:
    refused = pytest.raises((sa.exc.DatabaseError, LakeworksError), match="append-only")
    with refused, db.write() as conn:
        conn.execute(sa.update(audit_log).values(actor="someone else"))
    refused = pytest.raises((sa.exc.DatabaseError, LakeworksError), match="append-only")
    with refused, db.write() as conn:
        conn.execute(sa.delete(audit_log))


def test_the_database_itself_refuses_to_change_or_delete_entries(api: Api) -> None:
    api.member("dora", Role.ADMIN)
    api.client.post("/api/auth/login", json={"username": "dora", "password": "wrong-password"})
    count = len(entries(api))
    _refuses_changes(api.services.db)
    assert len(entries(api)) == count
