"""Engine registration and construction from workspace config.

Built-in types: ``duckdb`` and ``spark``. Third-party engines register a factory with
``register_engine`` or through the ``lakeworks.engines`` entry-point group (the entry
point names the type and loads the factory).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import entry_points
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

_stores: dict[str, object] = {}
_stores_lock = threading.Lock()


def _spark_factory(workspace: Workspace, env: str, name: str, config: EngineConfig) -> Engine:
    from lakeworks.engines.lakehouse.catalog import Lakehouse
    from lakeworks.engines.lakehouse.storage import open_storage
    from lakeworks.engines.spark.config import parse_options
    from lakeworks.engines.spark.engine import SparkEngine
    from lakeworks.store.database import Database, default_database_url

    options = parse_options(config.options, engine=name)
    root = options.warehouse
    if root is None:
        root = str(workspace.state_dir / "lakehouse" / env)
    elif "://" not in root and not Path(root).is_absolute():
        root = str(workspace.root / root / env)
    elif "://" in root:
        root = f"{root.rstrip('/')}/{env}"
    url = default_database_url(workspace.state_dir)
    with _stores_lock:
        db = _stores.get(url)
        if db is None:
            db = _stores[url] = Database.open(url)
    assert isinstance(db, Database)
    storage = open_storage(root, endpoint=options.endpoint)
    return SparkEngine(Lakehouse(db, storage, f"{workspace.name}/{env}"), options, env, name)


register_engine("spark", _spark_factory)


def _load_entry_points() -> None:
    for point in entry_points(group="lakeworks.engines"):
        if point.name not in _factories:
            register_engine(point.name, point.load())


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
        _load_entry_points()
        factory = _factories.get(config.type)
    if factory is None:
        raise UserError(
            f"unknown engine type '{config.type}'",
            hint=f"known engine types: {', '.join(sorted(_factories))}",
        )
    return factory(workspace, env, engine_name, config)
