"""The typed configuration of a ``type: spark`` engine (its ``options:``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lakeworks.engines.options import parse_engine_options


class SparkEngineOptions(BaseModel):
    """``engines: {name: {type: spark, options: {...}}}`` in ``lakeworks.yml``."""

    model_config = ConfigDict(extra="forbid")

    master: str = "local[*]"
    """``local[*]``, ``spark://host:7077`` (standalone) or ``sc://host:15002`` (Connect)."""
    warehouse: str | None = None
    """Lakehouse root: a folder (relative to the workspace) or ``s3://bucket/prefix``.
    Default: ``.lakeworks/lakehouse/<env>``."""
    endpoint: str | None = None
    """S3-compatible endpoint URL for an ``s3://`` warehouse."""
    shuffle_partitions: int = Field(default=8, ge=1)
    conf: dict[str, str] = Field(default_factory=dict)
    """Extra Spark settings (``spark.executor.memory: 2g``...)."""


def parse_options(options: dict[str, Any], *, engine: str) -> SparkEngineOptions:
    return parse_engine_options(SparkEngineOptions, options, engine=engine, type_name="spark")
