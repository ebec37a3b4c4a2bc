"""Explicit registration of connector types, with lazy imports.

A connector module is imported only when a data source of its type is opened, so the
CLI starts without loading any driver. Each module exposes ``Config`` (its pydantic
config model), and ``open_source`` and/or ``open_sink`` factories taking the data
source name, the validated config and a ``ConnectorContext``. Third-party packages add
types through the ``lakeworks.connectors`` entry-point group (``name = "pkg.module"``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import ValidationError

from lakeworks.connectors.base import ConnectorConfig, Sink, Source
from lakeworks.connectors.credentials import redact
from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.spec.yaml_source import KeyPath, LineMap, describe_error

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


def connector_module(type_name: str) -> ModuleType:
    """The module of connector type ``type_name`` (``UserError`` for an unknown type)."""
    return _module(type_name, Location(key="type"))


def supports(type_name: str, kind: Literal["source", "sink"]) -> bool | None:
    """Whether data sources of ``type_name`` can be read (``source``) or written
    (``sink``); None for an unknown type."""
    _load_plugins()
    module = _modules.get(type_name)
    if module is None:
        return None
    return hasattr(importlib.import_module(module), f"open_{kind}")


def _where(name: str, lines: LineMap | None, key_path: KeyPath = ()) -> Location:
    """The location of ``data_sources.<name>.<key_path>`` (its line when ``lines``)."""
    path = ("data_sources", name, *key_path)
    if lines is None:
        return Location(key=".".join(str(k) for k in path))
    return lines.location(path)


SECRET_KEYS = {
    "password": "password",
    "passwd": "password",
    "pwd": "password",
    "secret_key": "secret_key",
    "sasl_password": "sasl_password",
}
"""Keys that would hold a secret in plain text -> the ``<name>_env`` / ``<name>_encrypted``
pair that names it instead."""


def _plain_secret(key: str) -> tuple[str, str] | None:
    """Why a plain secret key is refused, and the two ways to name one (no value shown)."""
    base = SECRET_KEYS.get(key.lower())
    if base is None:
        return None
    return (
        f"'{key}' is not allowed: passwords are never written in workspace files; name it "
        f"with {base}_env (an environment variable) or {base}_encrypted (an encrypted token)",
        f"{base}_env: VARIABLE_NAME, or {base}_encrypted: <the output of "
        "'lakeworks secrets encrypt', which reads the password from standard input>",
    )


def config_problems(
    name: str, raw: Any, lines: LineMap | None = None
) -> tuple[ConnectorConfig | None, list[UserError]]:
    """Validate one data source's settings (``type`` picks the model): the config, or
    every problem found, each at the line of its key in ``lakeworks.yml`` when ``lines``
    (the line map of that file) is given. Values are never echoed unredacted."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        problem = UserError(
            f"data source '{name}' needs a 'type'",
            location=_where(name, lines, ("type",) if isinstance(raw, dict) else ()),
            hint=f"one of: {', '.join(connector_types())}",
        )
        return None, [problem]
    try:
        module = _module(raw["type"], _where(name, lines, ("type",)))
    except UserError as exc:
        return None, [exc]
    model = cast(type[ConnectorConfig], module.Config)
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error.get("loc", ()) if isinstance(p, str | int))
            message, hint = describe_error(dict(error))
            if error.get("type") == "extra_forbidden" and loc:
                message, hint = _plain_secret(str(loc[-1])) or (message, hint)
            problems.append(
                UserError(
                    f"data source '{name}': {redact(message)}",
                    location=_where(name, lines, loc),
                    hint=hint or f"see the '{raw['type']}' connector's settings",
                )
            )
        return None, problems


def check_data_sources(
    data_sources: Mapping[str, Any], lines: LineMap | None = None
) -> list[UserError]:
    """Every problem of every data source's settings (``lakeworks validate``)."""
    problems: list[UserError] = []
    for name, raw in sorted(data_sources.items()):
        problems.extend(config_problems(name, raw, lines)[1])
    return problems


def parse_config(
    name: str, raw: dict[str, Any], where: Location | None = None, *, lines: LineMap | None = None
) -> ConnectorConfig:
    """Validate a data source's config dict (``type`` picks the model).

    Raises one ``UserError`` naming every problem, located at the first one's line in
    ``lakeworks.yml`` when ``lines`` is given (else at ``where``).
    """
    config, problems = config_problems(name, raw, lines)
    if config is not None:
        return config
    first = problems[0]
    location = first.location if lines is not None or where is None else where
    if len(problems) == 1:
        raise UserError(first.message, location=location, hint=first.hint)
    prefix = f"data source '{name}': "
    joined = "; ".join(p.message.removeprefix(prefix) for p in problems)
    raise UserError(prefix + joined, location=location, hint=first.hint) from None


def _config_lines(context: ConnectorContext) -> LineMap | None:
    from lakeworks.spec.loader import workspace_config_lines

    return workspace_config_lines(context.root) if context.root is not None else None


def _locate(exc: UserError, name: str, context: ConnectorContext) -> None:
    """Point an error raised while opening a data source at its entry in lakeworks.yml."""
    if isinstance(exc, ValidationFailed) or exc.location.file is not None:
        return
    lines = _config_lines(context)
    if lines is not None:
        where = _where(name, lines)
        exc.location = Location(where.file, where.line, None, exc.location.key or where.key)


def _open(name: str, raw: dict[str, Any], context: ConnectorContext | None, kind: str) -> Any:
    context = context or ConnectorContext()
    try:
        config = parse_config(name, raw)
    except UserError:
        lines = _config_lines(context)
        if lines is None:
            raise
        parse_config(name, raw, lines=lines)
        raise
    module = _module(config.type, Location(key=f"data_sources.{name}"))
    factory = getattr(module, f"open_{kind}", None)
    if factory is None:
        verb = "read from" if kind == "source" else "written to"
        raise UserError(f"data source '{name}' ({config.type}) cannot be {verb}")
    try:
        return factory(name, config, context)
    except UserError as exc:
        _locate(exc, name, context)
        raise


def open_source(name: str, raw: dict[str, Any], context: ConnectorContext | None = None) -> Source:
    """A source for the data source ``name`` declared as ``raw``."""
    return cast(Source, _open(name, raw, context, "source"))


def open_sink(name: str, raw: dict[str, Any], context: ConnectorContext | None = None) -> Sink:
    """A sink for the data source ``name`` declared as ``raw``."""
    return cast(Sink, _open(name, raw, context, "sink"))
