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
from typing import TYPE_CHECKING

from lakeworks.engines.base import Engine
from lakeworks.errors import UserError
from lakeworks.spec.models import EngineConfig, Workspace

if TYPE_CHECKING:
    from lakeworks.engines.lakehouse.catalog import Lakehouse
    from lakeworks.engines.spark.config import SparkEngineOptions
    from lakeworks.store.database import Database

EngineFactory = Callable[[Workspace, str, str, EngineConfig], Engine]

_factories: dict[str, EngineFactory] = {}


def register_engine(type_name: str, factory: EngineFactory) -> None:
    """Make an engine type available to workspaces (``engines: {x: {type: NAME}}``)."""
    _factories[type_name] = factory


def _duckdb_factory(workspace: Workspace, env: str, name: str, config: EngineConfig) -> Engine:
    from lakeworks.engines.duckdb_engine import DuckDBEngine
    from lakeworks.engines.options import DuckDBEngineOptions, parse_engine_options

    options = parse_engine_options(
        DuckDBEngineOptions, config.options, engine=name, type_name="duckdb"
    )
    env_config = workspace.config.environments[env]
    if config.path:
        base = Path(config.path)
        if not base.is_absolute():
            base = workspace.root / base
        path = base.with_name(f"{base.stem}_{env}{base.suffix or '.duckdb'}")
    else:
        path = workspace.state_dir / "warehouse" / f"{env_config.database or env}.duckdb"
    return DuckDBEngine(path, env, name, settings=options.settings())


register_engine("duckdb", _duckdb_factory)

_stores: dict[str, Database] = {}
_stores_lock = threading.Lock()


def _store(workspace: Workspace) -> Database:
    """The workspace's metadata store, opened once per process for lakehouse catalogs."""
    from lakeworks.store.database import Database, default_database_url

    url = default_database_url(workspace.state_dir)
    with _stores_lock:
        db = _stores.get(url)
        if db is None:
            db = _stores[url] = Database.open(url)
        return db


def lakehouse_root(workspace: Workspace, env: str, warehouse: str | None) -> str:
    """Where ``env``'s lakehouse keeps its files: ``warehouse`` (a folder relative to the
    workspace, or ``s3://bucket/prefix``) with the environment appended, or
    ``.lakeworks/lakehouse/<env>``."""
    if warehouse is None:
        return str(workspace.state_dir / "lakehouse" / env)
    if "://" in warehouse:
        return f"{warehouse.rstrip('/')}/{env}"
    if not Path(warehouse).is_absolute():
        return str(workspace.root / warehouse / env)
    return warehouse


def lakehouse_for(workspace: Workspace, env: str) -> Lakehouse | None:
    """The lakehouse of ``env`` when its engine keeps tables in one (``type: spark``)."""
    from lakeworks.engines.spark.config import parse_options

    name, config = _engine_config(workspace, env)
    if config.type != "spark":
        return None
    return _lakehouse(workspace, env, parse_options(config.options, engine=name))


def _lakehouse(workspace: Workspace, env: str, options: SparkEngineOptions) -> Lakehouse:
    from lakeworks.engines.lakehouse.catalog import Lakehouse
    from lakeworks.engines.lakehouse.storage import open_storage

    root = lakehouse_root(workspace, env, options.warehouse)
    storage = open_storage(root, endpoint=options.endpoint)
    return Lakehouse(_store(workspace), storage, f"{workspace.name}/{env}")


def _spark_factory(workspace: Workspace, env: str, name: str, config: EngineConfig) -> Engine:
    from lakeworks.engines.spark.config import parse_options
    from lakeworks.engines.spark.engine import SparkEngine

    options = parse_options(config.options, engine=name)
    return SparkEngine(_lakehouse(workspace, env, options), options, env, name)


register_engine("spark", _spark_factory)


def _load_entry_points() -> None:
    for point in entry_points(group="lakeworks.engines"):
        if point.name not in _factories:
            register_engine(point.name, point.load())


def _engine_config(workspace: Workspace, env: str) -> tuple[str, EngineConfig]:
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
    return engine_name, config


def engine_for(workspace: Workspace, env: str) -> Engine:
    """The warehouse engine of ``env`` (dev or prod) in ``workspace``."""
    engine_name, config = _engine_config(workspace, env)
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
