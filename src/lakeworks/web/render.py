"""Rendering pages: the Jinja environment, the frame's context, small formatting filters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from lakeworks.api.auth import Access, services_of
from lakeworks.security.permissions import Permission
from lakeworks.web.modules import MODULES

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.auto_reload = False  # templates ship with the package: no stat() per render


def when(value: datetime | str | None) -> str:
    """A UTC-naive store time as ``YYYY-MM-DD HH:MM:SS`` (UTC), blank for none."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("T", " ").removesuffix("Z")[:19]
    return value.strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def size(value: int | None) -> str:
    if value is None:
        return ""
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return str(value)


def bizdate(value: str | None) -> str:
    """``20260411`` as ``2026-04-11``."""
    if not value or len(value) != 8:
        return value or ""
    return f"{value[:4]}-{value[4:6]}-{value[6:]}"


TEMPLATES.env.filters.update(when=when, duration=duration, size=size, bizdate=bizdate)
TEMPLATES.env.globals["quote"] = lambda text: quote(str(text), safe="")


def workspaces_of(request: Request, access: Access) -> list[str]:
    """The workspaces the signed-in user may switch to."""
    services = services_of(request)
    user = access.user
    if user.is_superuser:
        return services.workspace_names()
    return sorted(services.members.workspaces_of(user.id))


def page(
    request: Request,
    template: str,
    access: Access,
    *,
    title: str,
    module: str | None = None,
    env: str | None = None,
    status_code: int = 200,
    **data: Any,
) -> HTMLResponse:
    """A console page in the frame: navigation, workspace and environment switch,
    search box, the user and their roles."""
    workspace = access.workspace
    switchable = workspaces_of(request, access)
    if workspace is not None and access.user.is_superuser and workspace not in switchable:
        # members reach here only through their roles in a registered workspace; an
        # installation administrator may type any name: NotFound if it is not one
        services_of(request).record(workspace)
    current_env = access.env or env or "prod"
    principal = access.principal
    session = principal.session if principal is not None else None
    nav = []
    if workspace is not None:
        nav = [
            {"key": m.key, "title": m.title, "href": m.href(workspace, current_env)}
            for m in MODULES
            if access.can(m.permission)
        ]
    context = {
        "title": title,
        "module": module,
        "workspace": workspace,
        "env": current_env,
        "env_in_path": access.env is not None,
        "user": access.user,
        "roles": sorted(r.value for r in access.roles),
        "workspaces": switchable,
        "nav": nav,
        "csrf_token": session.csrf_token if session is not None else "",
        "can": lambda name: access.can(Permission(name)),
        **data,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def env_switch_href(path: str, env: str) -> str:
    """The same page in another environment (``/envs/dev/`` ↔ ``/envs/prod/``)."""
    for other in ("dev", "prod"):
        path = path.replace(f"/envs/{other}/", f"/envs/{env}/", 1)
        if path.endswith(f"/envs/{other}"):
            path = path[: -len(other)] + env
    return path


TEMPLATES.env.globals["env_switch_href"] = env_switch_href
