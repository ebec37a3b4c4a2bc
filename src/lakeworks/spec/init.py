"""``lakeworks init``: write a new workspace, empty or from a bundled example."""

from __future__ import annotations

import shutil
from pathlib import Path

from lakeworks.errors import Conflict, UserError

EXAMPLES_DIR = Path(__file__).parent / "examples"

EMPTY_WORKSPACE = """\
name: {name}
timezone: UTC
sql_dialect: maxcompute
"""


def available_examples() -> list[str]:
    """Names of the bundled example workspaces."""
    return sorted(p.name for p in EXAMPLES_DIR.iterdir() if p.is_dir())


ENGINE_TYPES = ("duckdb", "spark")

SPARK_ENGINE = """\
engines:
  default:
    type: spark
    options:
      master: local[*]
"""


def init_workspace(target: Path, example: str | None = None, engine: str = "duckdb") -> Path:
    """Create a workspace at ``target``; refuses to overwrite an existing one.

    ``engine: spark`` makes the default engine Spark (``local[*]``) over a lakehouse."""
    if engine not in ENGINE_TYPES:
        raise UserError(f"unknown engine '{engine}'", hint=f"use one of: {', '.join(ENGINE_TYPES)}")
    if (target / "lakeworks.yml").exists():
        raise Conflict(
            f"{target} already holds a workspace (lakeworks.yml exists)",
            hint="choose an empty folder",
        )
    if example is not None:
        source = EXAMPLES_DIR / example
        if not source.is_dir():
            raise UserError(
                f"unknown example '{example}'",
                hint=f"available examples: {', '.join(available_examples())}",
            )
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        (target / "workflows").mkdir(parents=True, exist_ok=True)
        name = target.resolve().name or "workspace"
        (target / "lakeworks.yml").write_text(EMPTY_WORKSPACE.format(name=name), encoding="utf-8")
    if engine == "spark":
        _use_spark(target / "lakeworks.yml")
    (target / ".gitignore").write_text(".lakeworks/\n", encoding="utf-8")
    return target


def _use_spark(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    block = "engines:\n  default:\n    type: duckdb\n"
    text = text.replace(block, SPARK_ENGINE) if block in text else text + SPARK_ENGINE
    config.write_text(text, encoding="utf-8")
