"""Every API route with every role: allowed exactly as the permission matrix says.

The test walks the app's routes (so a new route without a guard fails here), calls
each one as a member holding one role — in dev and in prod for routes that depend on
the environment — and checks that the answer is 403 exactly when the role lacks the
route's permission. Requests carry placeholder ids and empty bodies: an allowed call
may fail later (404, 409, 422) but never with 401 or 403.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute

from lakeworks.api.auth import Guard
from lakeworks.api.routes import ROUTERS
from lakeworks.security.permissions import (
    EnvPermission,
    Permission,
    Role,
    allowed,
)
from tests.integration.api.conftest import WORKSPACE, Api

ENVS = ("dev", "prod")


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    permission: Permission
    template: str


def guard_of(route: APIRoute) -> Guard | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, Guard):
            return dependency.call
        stack.extend(dependency.dependencies)
    return None


@dataclass(frozen=True)
class Endpoint:
    path: str
    methods: frozenset[str]
    route: APIRoute


def api_routes(api: Api) -> list[Endpoint]:
    """Every route of every router the app includes (under ``/api``)."""
    found = [
        Endpoint("/api" + route.path, frozenset(route.methods or ()), route)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    documented = {
        (path, method.upper())
        for path, operations in api.client.get("/api/openapi.json").json()["paths"].items()
        for method in operations
    }
    assert documented == {(e.path, m) for e in found for m in e.methods}
    return found


def _fill(template: str, env: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "workspace":
            return WORKSPACE
        if name == "env":
            return env
        return "999999" if name.endswith("_id") or name == "number" else "zz_missing"

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", value, template)


def calls(api: Api) -> Iterator[Call]:
    for endpoint in api_routes(api):
        guard = guard_of(endpoint.route)
        assert guard is not None, f"{endpoint.path} has no Guard"
        envs = ENVS if "{env}" in endpoint.path else ("dev",)
        for method in sorted(endpoint.methods):
            for env in envs:
                requirement = guard.requirement
                permission = (
                    requirement.for_env(env)
                    if isinstance(requirement, EnvPermission)
                    else requirement
                )
                yield Call(method, _fill(endpoint.path, env), permission, endpoint.path)


def request(api: Api, call: Call, headers: dict[str, str]) -> int:
    body: dict[str, object] | None = {} if call.method in ("POST", "PUT", "PATCH") else None
    response = api.client.request(call.method, call.path, json=body, headers=headers)
    return response.status_code


def expected_allowed(permission: Permission, roles: set[Role], superuser: bool) -> bool:
    if permission in (Permission.PUBLIC, Permission.AUTHENTICATED):
        return True
    if permission is Permission.INSTALLATION_ADMIN:
        return superuser
    return superuser or allowed(roles, permission)


def test_every_route_declares_a_guard(api: Api) -> None:
    routes = api_routes(api)
    assert len(routes) > 50
    missing = [e.path for e in routes if guard_of(e.route) is None]
    assert missing == []


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_is_allowed_exactly_what_the_matrix_says(api: Api, role: Role) -> None:
    headers = api.member(f"user-{role.value.replace('_', '-')}", role)
    wrong: list[str] = []
    checked = 0
    for call in calls(api):
        status = request(api, call, headers)
        should = expected_allowed(call.permission, {role}, superuser=False)
        where = f"{call.method} {call.path}: {status}"
        if should and status in (401, 403):
            wrong.append(f"{where}, expected allowed ({call.permission})")
        if not should and status != 403:
            wrong.append(f"{where}, expected 403 ({call.permission})")
        checked += 1
    assert checked > 60
    assert wrong == []


def test_an_installation_administrator_may_do_everything(api: Api) -> None:
    headers = api.member("root", superuser=True)
    wrong = [
        f"{call.method} {call.path}: {status}"
        for call in calls(api)
        if (status := request(api, call, headers)) in (401, 403)
    ]
    assert wrong == []


def test_a_user_outside_the_workspace_is_refused_everywhere_in_it(api: Api) -> None:
    headers = api.member("outsider")
    for call in calls(api):
        if call.permission in (Permission.PUBLIC, Permission.AUTHENTICATED):
            continue
        assert request(api, call, headers) == 403, f"{call.method} {call.path}"


def test_without_credentials_only_public_routes_answer(api: Api) -> None:
    for call in calls(api):
        status = request(api, call, {})
        if call.permission is Permission.PUBLIC:
            assert status not in (401, 403), call.path
        else:
            assert status == 401, f"{call.method} {call.path}: {status}"


# -- the web console's pages --------------------------------------------------------------


def console_calls() -> Iterator[Call]:
    """Every console page, per environment where its path has one."""
    from lakeworks.web.routes import ROUTERS as CONSOLE_ROUTERS

    for router in CONSOLE_ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            guard = guard_of(route)
            assert guard is not None, f"console page {route.path} has no Guard"
            envs = ENVS if "{env}" in route.path else ("dev",)
            for env in envs:
                requirement = guard.requirement
                permission = (
                    requirement.for_env(env)
                    if isinstance(requirement, EnvPermission)
                    else requirement
                )
                yield Call("GET", _fill(route.path, env), permission, route.path)


def page_status(api: Api, call: Call, headers: dict[str, str]) -> int:
    response = api.client.get(call.path, headers=headers, follow_redirects=False)
    assert response.status_code < 500, f"{call.path}: {response.text[:2000]}"
    return response.status_code


def test_the_console_has_pages_for_every_module(api: Api) -> None:
    templates = {c.template for c in console_calls()}
    assert len(templates) >= 20
    modules = ("studio", "ops", "map", "quality", "integration", "query", "admin")
    for module in (*modules, "dataservice", "monitoring"):
        assert any(f"/{module}" in t for t in templates), module


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_sees_exactly_the_console_pages_the_matrix_allows(api: Api, role: Role) -> None:
    headers = api.member(f"page-{role.value.replace('_', '-')}", role)
    wrong: list[str] = []
    for call in console_calls():
        status = page_status(api, call, headers)
        should = expected_allowed(call.permission, {role}, superuser=False)
        if should and status in (401, 403):
            wrong.append(f"{call.path}: {status}, expected allowed ({call.permission})")
        if not should and status != 403:
            wrong.append(f"{call.path}: {status}, expected 403 ({call.permission})")
    assert wrong == []


def test_console_pages_for_an_administrator_and_an_outsider(api: Api) -> None:
    root = api.member("page-root", superuser=True)
    outsider = api.member("page-outsider")
    for call in console_calls():
        assert page_status(api, call, root) not in (401, 403), call.path
        if call.permission not in (Permission.PUBLIC, Permission.AUTHENTICATED):
            assert page_status(api, call, outsider) == 403, call.path


def test_without_a_session_console_pages_send_the_browser_to_sign_in(api: Api) -> None:
    for call in console_calls():
        response = api.client.get(call.path, follow_redirects=False)
        if call.permission is Permission.PUBLIC:
            assert response.status_code < 400, call.path
            continue
        assert response.status_code == 303, call.path
        assert response.headers["location"].startswith("/login?next=%2F"), call.path
