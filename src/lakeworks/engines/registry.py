"""Engine registration and construction from workspace config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lakeworks.engines.base import Engine
from lakeworks.errors import UserError
from lakeworks.spec.models import EngineConfig, Workspace

EngineFactory = Callable[[Workspace, str, str, EngineConfig], Engine]

_factories: dict[str, EngineFactory] = {}


def register_engine(type_name: str, factory: EngineFactory) -> None:
    """Make an engine type available to workspaces (``engines: {x: {type: NAME}}``)."""
    _factories[type_name] = factory


def _duckdb_factory(workspace: Workspace, env: str, name: str, config: EngineConfig) -> Engine:
    from lakeworks.engines.duckdb_engine import DuckDBEngine

    env_config = workspace.config.environments[env]
    if config.path:
        base = Path(config.path)
        if not base.is_absolute():
            base = workspace.root / base
        path = base.with_name(f"{base.stem}_{env}{base.suffix or '.duckdb'}")
    else:
        path = workspace.state_dir / "warehouse" / f"{env_config.database or env}.duckdb"
    return DuckDBEngine(path, env, name)


register_engine("duckdb", _duckdb_factory)


def engine_for(workspace: Workspace, env: str) -> Engine:
    """The warehouse engine of ``env`` (dev or prod) in ``workspace``."""
    environments = workspace.config.environments
    if env not in environments:
        raise UserError(
            f"unknown environment '{env}'",
            hint=f"environments of this workspace: {', '.join(environments)}",
        )
    engine_name = environments[env].engine
    config = workspace.config.engines.get(engine_name)
    if config is None:
        raise UserError(
            f"environment '{env}' uses engine '{engine_name}', which is not declared",
            hint="declare it under 'engines:' in lakeworks.yml",
        )
    factory = _factories.get(config.type)
    if factory is None:
        raise UserError(
            f"unknown engine type '{config.type}'",
            hint=f"known engine types: {', '.join(sorted(_factories))}",
        )
    return factory(workspace, env, engine_name, config)
