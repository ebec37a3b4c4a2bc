"""Typed ``options:`` of an engine in ``lakeworks.yml``: one pydantic model per engine
type, unknown keys rejected, problems reported as one ``UserError``."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lakeworks.errors import UserError

OptionsT = TypeVar("OptionsT", bound=BaseModel)


class DuckDBEngineOptions(BaseModel):
    """``engines: {name: {type: duckdb, options: {...}}}``."""

    model_config = ConfigDict(extra="forbid")

    memory_limit: str | None = None
    """DuckDB's ``memory_limit`` (``4GB``); default: DuckDB's own (80 % of RAM)."""
    threads: int | None = Field(default=None, ge=1)
    """Threads DuckDB may use; default: one per core."""

    def settings(self) -> dict[str, str]:
        """The DuckDB configuration these options set."""
        found: dict[str, str] = {}
        if self.memory_limit is not None:
            found["memory_limit"] = self.memory_limit
        if self.threads is not None:
            found["threads"] = str(self.threads)
        return found


def parse_engine_options(
    model: type[OptionsT], options: dict[str, Any], *, engine: str, type_name: str
) -> OptionsT:
    """``options`` validated by ``model``; a ``UserError`` naming every problem."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise UserError(
            f"engine '{engine}' ({type_name}) has invalid options: {problems}",
            hint=f"known options: {', '.join(model.model_fields)}",
        ) from None
