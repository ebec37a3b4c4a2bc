"""The console's modules: what the navigation lists and which permission shows each.

A module page is a router under ``web/routes/`` plus one ``Module`` here; the
navigation shows a module to the members whose roles hold its permission (the page's
own guard refuses the others anyway). See docs/console.md, "Adding a module page".
"""

from __future__ import annotations

from dataclasses import dataclass

from lakeworks.security.permissions import Permission


@dataclass(frozen=True)
class Module:
    """One entry of the navigation."""

    key: str
    title: str
    path: str
    """Path template; ``{workspace}`` and ``{env}`` are filled in."""
    permission: Permission

    def href(self, workspace: str, env: str) -> str:
        return self.path.format(workspace=workspace, env=env)


MODULES: list[Module] = [
    Module("studio", "Data Studio", "/w/{workspace}/studio", Permission.CODE_READ),
    Module("ops", "Operations", "/w/{workspace}/envs/{env}/ops", Permission.INSTANCES_READ),
    Module(
        "integration", "Data Integration", "/w/{workspace}/integration", Permission.SOURCES_READ
    ),
    Module("quality", "Data Quality", "/w/{workspace}/envs/{env}/quality", Permission.QUALITY_READ),
    Module(
        "monitoring",
        "Monitoring",
        "/w/{workspace}/envs/{env}/monitoring",
        Permission.INSTANCES_READ,
    ),
    Module("dataservice", "Data Service", "/w/{workspace}/dataservice", Permission.CODE_READ),
    Module("map", "Data Map", "/w/{workspace}/envs/{env}/map", Permission.MAP_READ),
    Module("query", "Ad-hoc SQL", "/w/{workspace}/envs/{env}/query", Permission.DATA_QUERY),
    Module("admin", "Administration", "/w/{workspace}/admin", Permission.MEMBERS_READ),
]
"""The navigation, in order. Add a module by appending here and including its router
in ``web.routes.ROUTERS``."""
