"""Explicit registration of connector types, with lazy imports.

A connector module is imported only when a data source of its type is opened, so the
CLI starts without loading any driver. Each module exposes ``Config`` (its pydantic
config model), and ``open_source`` and/or ``open_sink`` factories taking the data
source name, the validated config and a ``ConnectorContext``. Third-party packages add
types through the ``lakeworks.connectors`` entry-point group (``name = "pkg.module"``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError

from lakeworks.connectors.base import ConnectorConfig, Sink, Source
from lakeworks.connectors.credentials import redact
from lakeworks.errors import Location, UserError

if TYPE_CHECKING:
    from lakeworks.engines.base import Engine

ENTRY_POINT_GROUP = "lakeworks.connectors"


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may need from the workspace: the warehouse, the root folder."""

    engine: Engine | None = None
    root: Path | None = None


_modules: dict[str, str] = {}
_plugins_loaded = False


def register_connector(type_name: str, module: str) -> None:
    """Make data sources of ``type: <type_name>`` use the connector in ``module``."""
    _modules[type_name] = module


for _type_name, _module_path in {
    "postgres": "lakeworks.connectors.postgres",
    "mysql": "lakeworks.connectors.mysql",
    "sqlite": "lakeworks.connectors.sqlite",
    "files": "lakeworks.connectors.files",
    "kafka": "lakeworks.connectors.kafka",
    "warehouse": "lakeworks.connectors.warehouse",
}.items():
    register_connector(_type_name, _module_path)
register_connector("mariadb", "lakeworks.connectors.mysql")


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP):
        _modules.setdefault(entry.name, entry.value)


def connector_types() -> list[str]:
    """Every registered connector type."""
    _load_plugins()
    return sorted(_modules)


def _module(type_name: str, where: Location) -> ModuleType:
    _load_plugins()
    module = _modules.get(type_name)
    if module is None:
        raise UserError(
            f"unknown data source type '{type_name}'",
            location=where,
            hint=f"known types: {', '.join(connector_types())}",
        )
    return importlib.import_module(module)


def parse_config(name: str, raw: dict[str, Any], where: Location | None = None) -> ConnectorConfig:
    """Validate a data source's config dict (``type`` picks the model)."""
    where = where or Location(key=f"data_sources.{name}")
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise UserError(
            f"data source '{name}' needs a 'type'",
            location=where,
            hint=f"one of: {', '.join(connector_types())}",
        )
    module = _module(raw["type"], where)
    model = cast(type[ConnectorConfig], module.Config)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error.get("loc", ()))
            if error.get("type") == "extra_forbidden":
                problems.append(f"unknown key '{key}'")
            else:
                problems.append(f"'{key}': {error.get('msg')}")
        raise UserError(
            f"data source '{name}': " + redact("; ".join(problems)),
            location=where,
            hint=f"see the '{raw['type']}' connector's settings",
        ) from None


def open_source(name: str, raw: dict[str, Any], context: ConnectorContext | None = None) -> Source:
    """A source for the data source ``name`` declared as ``raw``."""
    config = parse_config(name, raw)
    module = _module(config.type, Location(key=f"data_sources.{name}"))
    factory = getattr(module, "open_source", None)
    if factory is None:
        raise UserError(f"data source '{name}' ({config.type}) cannot be read from")
    return cast(Source, factory(name, config, context or ConnectorContext()))


def open_sink(name: str, raw: dict[str, Any], context: ConnectorContext | None = None) -> Sink:
    """A sink for the data source ``name`` declared as ``raw``."""
    config = parse_config(name, raw)
    module = _module(config.type, Location(key=f"data_sources.{name}"))
    factory = getattr(module, "open_sink", None)
    if factory is None:
        raise UserError(f"data source '{name}' ({config.type}) cannot be written to")
    return cast(Sink, factory(name, config, context or ConnectorContext()))
