"""The API definition file: ``dataservice/<group>/<name>.api.yml`` (pydantic, keys checked).

One file is one API. Its group is the folder, its name the file name; it is served at
``/dataservice/<group>/<path>`` (``path`` defaults to the name). Table mode names a
table, the columns returned and the columns callers may filter on; script mode holds
one SELECT with bound ``${name}`` parameters and MyBatis tags. See docs/dataservice.md.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCALAR_TYPES = ("string", "integer", "number", "boolean", "date", "datetime")
PARAM_TYPE = re.compile(r"^(?:list\[(?P<item>\w+)\]|(?P<scalar>\w+))$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?$")
PATH = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:/[a-z0-9][a-z0-9_-]*)*$")
RESERVED = frozenset({"page", "page_size", "with_total"})
"""Request parameters every paged API has; definitions may not reuse them."""

MAX_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_PAGE_SIZE = 2000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def split_type(type_: str) -> tuple[str, bool]:
    """``("integer", True)`` for ``list[integer]``; ``ValueError`` for an unknown type."""
    match = PARAM_TYPE.match(type_.strip())
    base = (match.group("item") or match.group("scalar")) if match else None
    if base not in SCALAR_TYPES:
        choices = ", ".join(SCALAR_TYPES)
        raise ValueError(f"unknown type {type_!r}; use one of {choices} or list[<type>]")
    return base, bool(match and match.group("item"))


class Parameter(_Model):
    """One request parameter."""

    name: str
    type: str = "string"
    """``string``, ``integer``, ``number``, ``boolean``, ``date``, ``datetime`` or
    ``list[<one of those>]``."""
    required: bool = False
    default: Any = None
    example: Any = None
    description: str = ""
    enum: list[Any] | None = None
    """The allowed values."""
    minimum: float | str | None = None
    maximum: float | str | None = None
    """Bounds for numbers, dates and datetimes (inclusive; dates as ISO strings)."""
    min_length: int = Field(default=0, ge=0)
    max_length: int = Field(default=1000, ge=1, le=100_000)
    max_items: int = Field(default=1000, ge=1, le=10_000)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not IDENTIFIER.match(name):
            raise ValueError(f"'{name}' is not a parameter name (letters, digits, _)")
        if name in RESERVED:
            raise ValueError(f"'{name}' is reserved for pagination ({', '.join(sorted(RESERVED))})")
        return name

    @field_validator("type")
    @classmethod
    def _type(cls, type_: str) -> str:
        split_type(type_)
        return type_.strip()

    @property
    def base_type(self) -> str:
        return split_type(self.type)[0]

    @property
    def is_list(self) -> bool:
        return split_type(self.type)[1]


class ResponseField(_Model):
    """One field of the response rows."""

    name: str
    type: Literal["string", "integer", "number", "boolean", "date", "datetime"] = "string"
    description: str = ""


class Limits(_Model):
    """Requests allowed per second and per day (per API, or per application)."""

    per_second: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)


class ApiFile(_Model):
    """The contents of ``<name>.api.yml``."""

    path: str | None = None
    method: Literal["GET", "POST"] = "GET"
    summary: str = ""
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    backend: str = "warehouse"
    """``warehouse`` (the environment's engine) or a data source of ``lakeworks.yml``."""
    table: str | None = None
    columns: list[str] = Field(default_factory=list)
    filters: list[str] = Field(default_factory=list)
    order_by: list[str] = Field(default_factory=list)
    sql: str | None = None
    parameters: list[Parameter] = Field(default_factory=list)
    response: list[ResponseField] = Field(default_factory=list)
    paginate: bool = True
    page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=DEFAULT_MAX_PAGE_SIZE, ge=1, le=100_000)
    timeout_seconds: float = Field(default=10.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    cache_ttl_seconds: int = Field(default=0, ge=0, le=86_400)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("path")
    @classmethod
    def _path(cls, path: str | None) -> str | None:
        if path is not None and not PATH.match(path.strip("/")):
            raise ValueError(
                f"'{path}' is not an API path (lower-case letters, digits, '-', '_' and '/')"
            )
        return path.strip("/") if path is not None else None

    @field_validator("table")
    @classmethod
    def _table(cls, table: str | None) -> str | None:
        if table is not None and not TABLE_NAME.match(table):
            raise ValueError(f"'{table}' is not a table name ([schema.]table)")
        return table

    @field_validator("columns", "filters", "order_by")
    @classmethod
    def _columns(cls, columns: list[str]) -> list[str]:
        for column in columns:
            bare = column.removesuffix(" desc").removesuffix(" DESC")
            if not IDENTIFIER.match(bare):
                raise ValueError(f"'{column}' is not a column name")
        return columns

    @model_validator(mode="after")
    def _mode(self) -> ApiFile:
        if (self.table is None) == (self.sql is None):
            raise ValueError("give either 'table' (table mode) or 'sql' (script mode)")
        if self.table is not None and not self.columns:
            raise ValueError("table mode needs 'columns' (the columns to return)")
        if self.sql is not None and (self.columns or self.filters):
            raise ValueError("'columns' and 'filters' belong to table mode; script mode has 'sql'")
        if self.page_size > self.max_page_size:
            raise ValueError("'page_size' is larger than 'max_page_size'")
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter {duplicates[0]!r} is declared twice")
        return self

    @property
    def mode(self) -> str:
        return "table" if self.table is not None else "script"
