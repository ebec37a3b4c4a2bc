"""The typed configuration of a ``type: spark`` engine (its ``options:``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lakeworks.engines.options import parse_engine_options

MASTER_PREFIXES = ("local", "spark://", "sc://", "yarn", "k8s://")


class SparkEngineOptions(BaseModel):
    """``engines: {name: {type: spark, options: {...}}}`` in ``lakeworks.yml``."""

    model_config = ConfigDict(extra="forbid")

    master: str = "local[*]"
    """``local[*]``, ``spark://host:7077`` (standalone cluster: this process is the
    driver, which the cluster's executors must reach — see ``SPARK_LOCAL_IP``) or
    ``sc://host:15002`` (a Spark Connect server, which is the driver)."""
    warehouse: str | None = None
    """Lakehouse root: a folder (relative to the workspace) or ``s3://bucket/prefix``.
    Default: ``.lakeworks/lakehouse/<env>``."""
    endpoint: str | None = None
    """S3-compatible endpoint URL for an ``s3://`` warehouse."""
    shuffle_partitions: int = Field(default=8, ge=1)
    conf: dict[str, str] = Field(default_factory=dict)
    """Extra Spark settings (``spark.executor.memory: 2g``...). With ``sc://`` only
    session settings (``spark.sql.*``); the server's own are set where it starts."""

    @field_validator("master")
    @classmethod
    def _known_master(cls, master: str) -> str:
        if not master.startswith(MASTER_PREFIXES):
            raise ValueError(
                f"'{master}' is not a Spark master URL: expected local[*], local[N], "
                "spark://host:7077 or sc://host:15002"
            )
        return master


def parse_options(options: dict[str, Any], *, engine: str) -> SparkEngineOptions:
    return parse_engine_options(SparkEngineOptions, options, engine=engine, type_name="spark")
