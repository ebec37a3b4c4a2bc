"""API definitions: loading ``dataservice/<group>/<name>.api.yml`` and checking them.

A definition is checked once, when it is loaded (``lakeworks api test``, publish, the
server): the template parses, every placeholder and test names a declared parameter,
and the SQL is one read-only SELECT in the backend's dialect (else a ``UserError`` at
its file and line). Table mode is compiled into the same template form, so both modes
run through one renderer. A published version stores ``to_json()``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from lakeworks.dataservice.spec import PATH, ApiFile
from lakeworks.dataservice.template import Template, TemplateError, parse_template, render
from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.spec.yaml_source import parse_yaml, validate_model

FOLDER = "dataservice"
SUFFIX = ".api.yml"
WAREHOUSE = "warehouse"
_SOURCE_DIALECTS = {"postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Into,
    exp.Lock,
    exp.TruncateTable,
)


@dataclass(frozen=True)
class ApiDefinition:
    """One API as defined in the workspace (or as stored in a published version)."""

    workspace: str
    group: str
    name: str
    spec: ApiFile
    source_path: str
    sql_line: int
    dialect: str
    reads: tuple[str, ...] = ()
    lineage: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    """Each output column with the (table, column) pairs it comes from."""
    fields: tuple[tuple[str, str], ...] = ()
    """The result's columns and JSON types as the warehouse bound the statement at
    publish (warehouse APIs without a ``response:`` list, e.g. ``SELECT *``)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """``group/name``: how the CLI and the management API name it."""
        return f"{self.group}/{self.name}"

    @property
    def route(self) -> str:
        """``group/path``: where it is served under ``/dataservice/``."""
        return f"{self.group}/{self.spec.path or self.name}"

    @property
    def template_text(self) -> str:
        return self.spec.sql if self.spec.sql is not None else table_template(self.spec)

    @property
    def template(self) -> Template:
        return _parsed(self.template_text, self.source_path, self.sql_line)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "spec": self.spec.model_dump(mode="json", exclude_none=True),
            "source_path": self.source_path,
            "sql_line": self.sql_line,
            "dialect": self.dialect,
            "reads": list(self.reads),
            "lineage": [[c, [list(s) for s in srcs]] for c, srcs in self.lineage],
            **({"fields": [list(f) for f in self.fields]} if self.fields else {}),
        }

    @classmethod
    def from_json(cls, workspace: str, data: Mapping[str, Any]) -> ApiDefinition:
        return cls(
            workspace=workspace,
            group=data["group"],
            name=data["name"],
            spec=ApiFile.model_validate(data["spec"]),
            source_path=data["source_path"],
            sql_line=int(data["sql_line"]),
            dialect=data["dialect"],
            reads=tuple(data.get("reads", ())),
            lineage=tuple(
                (c, tuple((t, col) for t, col in srcs)) for c, srcs in data.get("lineage", ())
            ),
            fields=tuple((str(n), str(t)) for n, t in data.get("fields", ())),
        )


@functools.lru_cache(maxsize=512)
def _parsed(text: str, path: str, first_line: int) -> Template:
    return parse_template(text, path=path, first_line=first_line)


def table_template(spec: ApiFile) -> str:
    """Table mode as a template: the columns, one optional condition per filter."""
    by_name = {p.name: p for p in spec.parameters}
    lines = [f"SELECT {', '.join(spec.columns)} FROM {spec.table}", "<where>"]
    for column in spec.filters:
        parameter = by_name.get(column)
        if parameter is not None and parameter.is_list:
            lines.append(
                f'<if test="{column} != null"> AND {column} IN <foreach collection="{column}"'
                f' item="v" open="(" separator="," close=")">${{v}}</foreach></if>'
            )
        else:
            lines.append(f'<if test="{column} != null"> AND {column} = ${{{column}}}</if>')
    lines.append("</where>")
    if spec.order_by:
        lines.append("ORDER BY " + ", ".join(spec.order_by))
    return "\n".join(lines)


def backend_dialect(backend: str, data_sources: Mapping[str, Mapping[str, Any]]) -> str:
    """The SQL dialect of a backend; ``UserError`` for an unknown or unsupported one."""
    if backend == WAREHOUSE:
        return "duckdb"
    source = data_sources.get(backend)
    if source is None:
        known = ", ".join([WAREHOUSE, *sorted(data_sources)])
        raise UserError(f"unknown backend '{backend}'", hint=f"use one of: {known}")
    kind = str(source.get("type", ""))
    if kind not in _SOURCE_DIALECTS:
        raise UserError(
            f"data source '{backend}' ({kind}) cannot serve APIs",
            hint="APIs read the warehouse or a postgres, mysql or mariadb data source",
        )
    return _SOURCE_DIALECTS[kind]


def _sample(definition: ApiDefinition) -> dict[str, object]:
    """A value for every parameter, so the fullest form of the SQL can be checked."""
    samples: dict[str, object] = {}
    for parameter in definition.spec.parameters:
        value: object = "x" if parameter.base_type == "string" else 1
        samples[parameter.name] = [value] if parameter.is_list else value
    return samples


def check_sql(definition: ApiDefinition) -> tuple[list[str], list[Any]]:
    """Check that every form of the template is one SELECT; returns the reads and the
    lineage of the fullest form. ``UserError`` at the SQL's line otherwise."""
    from lakeworks.sql.script import parse_script

    where = Location(definition.source_path, definition.sql_line, None, "sql")
    template = definition.template
    declared = {p.name for p in definition.spec.parameters}
    unknown = sorted(template.parameters - declared - _loop_names(template))
    if unknown:
        raise UserError(
            f"the SQL uses '{unknown[0]}', which is not a declared parameter",
            location=where,
            hint="declare it under 'parameters:' with its type",
        )
    forms = [render(template, {}), render(template, _sample(definition))]
    fullest = forms[-1]
    for form in forms:
        text = "NULL".join(form.parts)
        statements = parse_script(
            text, definition.dialect, path=definition.source_path, first_line=definition.sql_line
        )
        if len(statements) != 1:
            raise UserError(
                f"an API runs exactly one SELECT, this SQL has {len(statements)} statements",
                location=where,
                hint="remove the other statements",
            )
        tree = statements[0].expression
        if not isinstance(tree, exp.Query) or any(True for _ in tree.find_all(*_WRITES)):
            raise UserError(
                "an API runs one read-only SELECT; this SQL is not one",
                location=Location(definition.source_path, statements[0].line, None, "sql"),
                hint="write a SELECT (WITH … SELECT and UNION are fine); APIs never change data",
            )
        if definition.spec.backend == WAREHOUSE:
            from lakeworks.security.adhoc_checks import check_statement

            try:
                check_statement(statements[0])
            except UserError as exc:
                raise UserError(
                    exc.message.replace("in ad-hoc queries", "in data APIs"),
                    location=Location(definition.source_path, statements[0].line, None, "sql"),
                    hint=exc.hint,
                ) from None
    return _lineage("NULL".join(fullest.parts), definition)


def _loop_names(template: Template) -> set[str]:
    from lakeworks.dataservice.template import Foreach

    names: set[str] = set()
    stack: list[Any] = list(template.nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, Foreach):
            names.add(node.item)
            if node.index:
                names.add(node.index)
        for attr in ("body", "otherwise"):
            child = getattr(node, attr, None)
            if child:
                stack.extend(child)
        for _test, body in getattr(node, "whens", ()):
            stack.extend(body)
    return names


def _lineage(text: str, definition: ApiDefinition) -> tuple[list[str], list[Any]]:
    import sqlglot

    from lakeworks.sql.lineage_scope import query_lineage

    tree = sqlglot.parse_one(text, read=definition.dialect)
    if not isinstance(tree, exp.Query):
        return [], []
    found = query_lineage(tree, {}, definition.dialect)
    lineage = [
        (out.name or f"column_{i + 1}", sorted((r.table, r.column) for r in out.sources.refs))
        for i, out in enumerate(found.outputs)
    ]
    return sorted(found.reads), lineage


def load_file(
    path: Path, root: Path, workspace: str, data_sources: Mapping[str, Mapping[str, Any]]
) -> ApiDefinition:
    """Load and check one ``.api.yml`` file."""
    relative = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read file: {exc.strerror}", location=Location(relative)) from None
    data, lines = parse_yaml(text, relative)
    spec = validate_model(ApiFile, data, lines)
    group = path.parent.name
    name = path.name.removesuffix(SUFFIX)
    for label, value in (("group (folder)", group), ("name", name)):
        if not PATH.match(value) or "/" in value:
            raise UserError(
                f"API {label} '{value}' must be lower-case letters, digits, '-' and '_'",
                location=Location(relative),
                hint="rename the file or folder",
            )
    try:
        dialect = backend_dialect(spec.backend, data_sources)
    except UserError as exc:
        exc.location = lines.location(("backend",))
        raise
    sql_line = (lines.line_of(("sql",)) or 0) + 1 if spec.sql is not None else 1
    if spec.sql is not None and not text.splitlines()[sql_line - 2].rstrip().endswith(("|", ">")):
        sql_line -= 1
    definition = ApiDefinition(workspace, group, name, spec, relative, sql_line, dialect)
    try:
        reads, lineage = check_sql(definition)
    except TemplateError as exc:
        exc.location = Location(relative, exc.location.line, None, "sql")
        raise
    return ApiDefinition(
        workspace,
        group,
        name,
        spec,
        relative,
        sql_line,
        dialect,
        tuple(reads),
        tuple((c, tuple(tuple(s) for s in srcs)) for c, srcs in lineage),
    )


def api_files(root: Path) -> list[Path]:
    """Every ``dataservice/<group>/<name>.api.yml`` of a workspace, sorted."""
    folder = root / FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*/*{SUFFIX}") if p.is_file())


def load_definitions(
    root: Path, workspace: str, data_sources: Mapping[str, Mapping[str, Any]]
) -> list[ApiDefinition]:
    """Every API of a workspace folder; all problems are reported at once."""
    found: list[ApiDefinition] = []
    problems: list[UserError] = []
    routes: dict[str, str] = {}
    for path in api_files(root):
        try:
            definition = load_file(path, root, workspace, data_sources)
        except ValidationFailed as exc:
            problems.extend(exc.errors)
            continue
        except UserError as exc:
            problems.append(exc)
            continue
        if definition.route in routes:
            problems.append(
                UserError(
                    f"path '{definition.route}' is also used by {routes[definition.route]}",
                    location=Location(definition.source_path, None, None, "path"),
                )
            )
            continue
        routes[definition.route] = definition.source_path
        found.append(definition)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ValidationFailed(problems)
    return found
