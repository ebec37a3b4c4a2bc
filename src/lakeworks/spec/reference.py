"""The settings reference (``docs/settings.md``), generated from the config models.

``python -m lakeworks.spec.reference docs/settings.md`` rewrites the file; a test checks
that it is current, so the documentation never drifts from what Lakeworks accepts.
"""

from __future__ import annotations

import ast
import enum
import functools
import inspect
import itertools
import sys
import textwrap
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from lakeworks.spec.models import Defaults, NodeHeader, ScheduleSpec, WorkflowConfig

SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
    (
        "workflow.yml",
        WorkflowConfig,
        "`workflows/<name>/workflow.yml` holds the settings of one workflow.",
    ),
    (
        "Node header",
        NodeHeader,
        "The YAML block at the top of a node file, between `-- ---` lines in SQL (`# ---`"
        " in Python and shell). Every key is optional. The keys of *Inherited settings*"
        " may be written here too.",
    ),
    (
        "Inherited settings",
        Defaults,
        "Written under `defaults:` in `lakeworks.yml` or `workflow.yml`, or directly in a"
        " node header; a node header wins over its workflow, which wins over the workspace.",
    ),
    (
        "schedule",
        ScheduleSpec,
        "The `schedule:` of a `workflow.yml` or of a node header. Times are local to `timezone`.",
    ),
)


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_anchor(annotation)})"
    plain: dict[object, str] = {str: "text", int: "integer", float: "number", bool: "true/false"}
    if annotation in plain:
        return plain[annotation]
    return str(annotation)


def _anchor(model: type[BaseModel]) -> str:
    for title, section, _ in SECTIONS:
        if section is model:
            return title.lower().replace(" ", "-").replace(".", "")
    return model.__name__.lower()


def _default(field: typing.Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
        return "empty" if not value else f"`{value}`"
    if field.default is PydanticUndefined:
        return "required"
    if field.default is None:
        return ""
    if isinstance(field.default, enum.Enum):
        return f"`{field.default.value}`"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return f"`{field.default}`"


@functools.cache
def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstring under each field annotated in ``cls`` itself (not its bases)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


def description(model: type[BaseModel], name: str) -> str | None:
    """A field's ``description``, else the docstring under it where it is declared."""
    field = model.model_fields[name]
    if field.description is not None:
        return field.description
    for cls in model.__mro__:
        if name in inspect.get_annotations(cls):
            return _attribute_docs(cls).get(name)
    return None


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split()).replace("``", "`").replace("|", "\\|")


def section(title: str, model: type[BaseModel], intro: str) -> list[str]:
    """The markdown of one model: a heading, an introduction and a table of its keys."""
    inherited = set(Defaults.model_fields) if model is NodeHeader else set()
    lines = [
        f"## {title}",
        "",
        intro,
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in model.model_fields.items():
        if name in inherited:
            continue
        key = field.alias or name
        lines.append(
            f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} |"
            f" {_one_line(description(model, name))} |"
        )
    lines.append("")
    return lines


def reference() -> str:
    """The whole settings reference as markdown."""
    lines = [
        "# Settings reference",
        "",
        "<!-- Generated from lakeworks.spec.models by"
        " `python -m lakeworks.spec.reference docs/settings.md`; do not edit by hand. -->",
        "",
        "Unknown keys are errors (reported with file and line), so a misspelt setting is"
        " never silently ignored.",
        "",
    ]
    for title, model, intro in SECTIONS:
        lines.extend(section(title, model, intro))
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    """Write the reference to the path given (or print it)."""
    text = reference()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
