"""Script-mode SQL templates: MyBatis-style dynamic tags with bound parameters.

A template is SQL text with ``${name}`` (or MyBatis' ``#{name}``) placeholders and the
tags DataWorks scripts use: ``<if test="…">``, ``<where>``, ``<trim>``, ``<choose>`` /
``<when>`` / ``<otherwise>`` and ``<foreach>``. Rendering never splices a value into
the text: every placeholder becomes a parameter slot, and ``RenderedSql`` keeps the
text parts and the values apart until a driver binds them. Pure: no I/O.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lakeworks.dataservice.expressions import Expression, parse_expression
from lakeworks.errors import Location, UserError

_TAGS = ("if", "where", "trim", "choose", "when", "otherwise", "foreach")
_ATTR = r"""\s+[A-Za-z_][\w-]*\s*=\s*(?:"[^"]*"|'[^']*')"""
_TOKEN = re.compile(
    r"<!\[CDATA\[(?P<cdata>.*?)\]\]>"
    rf"|<(?P<close>/)?(?P<tag>{'|'.join(_TAGS)})(?P<attrs>(?:{_ATTR})*)\s*(?P<empty>/)?>",
    re.DOTALL | re.IGNORECASE,
)
_ATTR_PAIR = re.compile(r"""([A-Za-z_][\w-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_PLACEHOLDER = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*\}|#\{\s*([A-Za-z_][\w.]*)\s*(?:,[^}]*)?\}")
_NAME = re.compile(r"^[A-Za-z_]\w*$")


class TemplateError(UserError):
    """A template that cannot be parsed or rendered."""


# -- nodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str
    line: int


@dataclass(frozen=True)
class Slot:
    """A bound parameter: ``name`` is a parameter or a ``foreach`` item (``item.field``)."""

    name: str
    line: int


@dataclass(frozen=True)
class If:
    test: Expression
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Trim:
    """``<trim>`` (and ``<where>``, a trim with prefix WHERE dropping a leading AND/OR)."""

    body: tuple[Node, ...]
    prefix: str = ""
    suffix: str = ""
    prefix_overrides: tuple[str, ...] = ()
    suffix_overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class _When:
    """A ``<when>`` while its ``<choose>`` is parsed."""

    test: Expression
    body: tuple[Node, ...]


@dataclass(frozen=True)
class _Otherwise:
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Choose:
    whens: tuple[tuple[Expression, tuple[Node, ...]], ...]
    otherwise: tuple[Node, ...] | None


@dataclass(frozen=True)
class Foreach:
    collection: str
    item: str
    index: str | None
    open: str
    separator: str
    close: str
    body: tuple[Node, ...]
    line: int


Node = Text | Slot | If | Trim | Choose | Foreach | _When | _Otherwise
"""``_When`` and ``_Otherwise`` exist only inside a ``<choose>`` being parsed."""


@dataclass(frozen=True)
class Template:
    """A parsed template; ``parameters`` are the names its slots and tests refer to."""

    nodes: tuple[Node, ...]
    parameters: frozenset[str]


# -- rendering output --------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedSql:
    """SQL text split around its parameter slots: ``len(parts) == len(values) + 1``."""

    parts: tuple[str, ...]
    values: tuple[object, ...]

    def text(self, style: str = "qmark") -> str:
        """The SQL with placeholders of ``style``: ``qmark`` (``?``, DuckDB) or
        ``format`` (``%s``, psycopg and PyMySQL; literal ``%`` doubled)."""
        if style == "format":
            return "%s".join(part.replace("%", "%%") for part in self.parts)
        return "?".join(self.parts)

    def wrap(self, before: str, after: str, values: Sequence[object] = ()) -> RenderedSql:
        """``before`` + this SQL + ``after``, with extra slots in ``after`` (``?`` marks)."""
        tail = after.split("?")
        if len(tail) != len(values) + 1:
            raise ValueError("one value per '?' in after")
        parts = list(self.parts)
        parts[0] = before + parts[0]
        parts[-1] = parts[-1] + tail[0]
        parts.extend(tail[1:])
        return RenderedSql(tuple(parts), (*self.values, *values))

    def shown(self) -> str:
        """The SQL as a person reads it: slots as ``?`` and the values listed apart."""
        return self.text("qmark")


@dataclass
class _Builder:
    parts: list[str] = field(default_factory=lambda: [""])
    values: list[object] = field(default_factory=list)

    def add_text(self, text: str) -> None:
        self.parts[-1] += text

    def add_value(self, value: object) -> None:
        self.values.append(value)
        self.parts.append("")

    def extend(self, other: _Builder) -> None:
        self.parts[-1] += other.parts[0]
        self.parts.extend(other.parts[1:])
        self.values.extend(other.values)

    def empty(self) -> bool:
        return not self.values and not "".join(self.parts).strip()


# -- parsing -----------------------------------------------------------------------------


def _line_at(text: str, offset: int, first_line: int) -> int:
    return first_line + text.count("\n", 0, offset)


def _attrs(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTR_PAIR.finditer(raw or ""):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        found[match.group(1).lower()] = html.unescape(value)
    return found


def _overrides(value: str | None) -> tuple[str, ...]:
    return tuple(v for v in (value or "").split("|") if v.strip())


def parse_template(text: str, *, path: str | None = None, first_line: int = 1) -> Template:
    """Parse ``text``; a misplaced or unclosed tag or a bad test is a ``TemplateError``
    at its line."""
    names: set[str] = set()
    stack: list[tuple[str, dict[str, str], list[Node], int]] = [("", {}, [], first_line)]

    def where(offset: int) -> Location:
        return Location(path, _line_at(text, offset, first_line), None, "sql")

    def expression(source: str, location: Location) -> Expression:
        try:
            parsed = parse_expression(source)
        except ValueError as exc:
            raise TemplateError(
                f"bad test expression {source!r}: {exc}",
                location=location,
                hint="e.g. test=\"region != null and region != ''\"",
            ) from None
        names.update(parsed.names)
        return parsed

    def add_text(chunk: str, offset: int, *, cdata: bool = False) -> None:
        body = stack[-1][2]
        position = 0
        source = chunk
        for match in _PLACEHOLDER.finditer(source):
            before = source[position : match.start()]
            if before:
                body.append(Text(before if cdata else html.unescape(before), 0))
            name = match.group(1) or match.group(2)
            body.append(Slot(name, _line_at(text, offset + match.start(), first_line)))
            names.add(name.split(".", 1)[0])
            position = match.end()
        rest = source[position:]
        if rest:
            body.append(Text(rest if cdata else html.unescape(rest), 0))

    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            add_text(text[position : match.start()], position)
        position = match.end()
        if match.group("cdata") is not None:
            add_text(match.group("cdata"), match.start("cdata"), cdata=True)
            continue
        tag = match.group("tag").lower()
        attrs = _attrs(match.group("attrs"))
        if match.group("close"):
            open_tag, open_attrs, body, line = stack.pop() if len(stack) > 1 else ("", {}, [], 0)
            if open_tag != tag:
                raise TemplateError(
                    f"</{tag}> closes <{open_tag or 'nothing'}>",
                    location=where(match.start()),
                    hint="every tag needs its own closing tag, in order",
                )
            location = Location(path, line, None, "sql")
            if tag in ("when", "otherwise") and stack[-1][0] != "choose":
                raise TemplateError(f"<{tag}> belongs inside <choose>", location=location)
            stack[-1][2].append(_build(tag, open_attrs, tuple(body), location, expression))
            continue
        if match.group("empty"):
            continue
        stack.append((tag, attrs, [], _line_at(text, match.start(), first_line)))
    if position < len(text):
        add_text(text[position:], position)
    if len(stack) > 1:
        tag, _, _, line = stack[-1]
        raise TemplateError(
            f"<{tag}> is never closed",
            location=Location(path, line, None, "sql"),
            hint=f"add </{tag}>",
        )
    return Template(tuple(stack[0][2]), frozenset(names))


def _build(
    tag: str,
    attrs: dict[str, str],
    body: tuple[Node, ...],
    location: Location,
    parse: Callable[[str, Location], Expression],
) -> Node:

    def need(name: str) -> str:
        value = attrs.get(name)
        if value is None or not value.strip():
            raise TemplateError(f"<{tag}> needs the attribute {name}=", location=location)
        return value

    if tag == "if":
        return If(parse(need("test"), location), body)
    if tag == "where":
        return Trim(body, prefix="WHERE ", prefix_overrides=("AND ", "OR "))
    if tag == "trim":
        return Trim(
            body,
            prefix=attrs.get("prefix", "") + " ",
            suffix=" " + attrs.get("suffix", ""),
            prefix_overrides=_overrides(attrs.get("prefixoverrides")),
            suffix_overrides=_overrides(attrs.get("suffixoverrides")),
        )
    if tag == "when":
        return _When(parse(need("test"), location), body)
    if tag == "otherwise":
        return _Otherwise(body)
    if tag == "choose":
        whens: list[tuple[Expression, tuple[Node, ...]]] = []
        otherwise: tuple[Node, ...] | None = None
        for child in body:
            if isinstance(child, _When):
                if otherwise is not None:
                    raise TemplateError("<when> after <otherwise> in <choose>", location=location)
                whens.append((child.test, child.body))
            elif isinstance(child, _Otherwise):
                otherwise = child.body
            elif isinstance(child, Text) and not child.text.strip():
                continue
            else:
                raise TemplateError(
                    "<choose> may hold only <when> and <otherwise>", location=location
                )
        if not whens:
            raise TemplateError("<choose> needs at least one <when>", location=location)
        return Choose(tuple(whens), otherwise)
    # foreach
    collection = need("collection")
    item = attrs.get("item", "item")
    index = attrs.get("index")
    for name in (collection, item, *([index] if index else [])):
        if not _NAME.match(name):
            raise TemplateError(f"<foreach>: '{name}' is not a name", location=location)
    return Foreach(
        collection,
        item,
        index,
        attrs.get("open", ""),
        attrs.get("separator", ""),
        attrs.get("close", ""),
        body,
        location.line or 0,
    )


# -- rendering ---------------------------------------------------------------------------


def _lookup(scope: Mapping[str, object], name: str) -> object:
    head, _, rest = name.partition(".")
    value = scope.get(head)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _inside_literal(builder: _Builder) -> bool:
    return "".join(builder.parts).count("'") % 2 == 1


def _render(nodes: Sequence[Node], scope: Mapping[str, object], out: _Builder) -> None:
    for node in nodes:
        if isinstance(node, Text):
            out.add_text(node.text)
        elif isinstance(node, Slot):
            if _inside_literal(out):
                raise TemplateError(
                    f"parameter '{node.name}' is inside a quoted string",
                    location=Location(None, node.line, None, "sql"),
                    hint="parameters are bound values: write col LIKE CONCAT('%', ${x}, '%'),"
                    " not '%${x}%'",
                )
            out.add_value(_lookup(scope, node.name))
        elif isinstance(node, If):
            if node.test.truth(scope):
                _render(node.body, scope, out)
        elif isinstance(node, Choose):
            for test, body in node.whens:
                if test.truth(scope):
                    _render(body, scope, out)
                    break
            else:
                if node.otherwise is not None:
                    _render(node.otherwise, scope, out)
        elif isinstance(node, Trim):
            _render_trim(node, scope, out)
        elif isinstance(node, Foreach):
            _render_foreach(node, scope, out)


def _render_trim(node: Trim, scope: Mapping[str, object], out: _Builder) -> None:
    inner = _Builder()
    _render(node.body, scope, inner)
    if inner.empty():
        return
    first = inner.parts[0].lstrip()
    for override in node.prefix_overrides:
        if first.upper().startswith(override.upper().strip()):
            candidate = first[len(override.strip()) :]
            if not candidate or not candidate[0].isalnum():
                first = candidate.lstrip()
                break
    inner.parts[0] = first
    last = inner.parts[-1].rstrip()
    for override in node.suffix_overrides:
        if last.upper().endswith(override.upper().strip()):
            last = last[: len(last) - len(override.strip())].rstrip()
            break
    inner.parts[-1] = last
    out.add_text(" " + node.prefix if node.prefix.strip() else " ")
    out.extend(inner)
    out.add_text(node.suffix if node.suffix.strip() else " ")


def _render_foreach(node: Foreach, scope: Mapping[str, object], out: _Builder) -> None:
    items = _lookup(scope, node.collection)
    if items is None:
        return
    if not isinstance(items, list | tuple):
        raise TemplateError(
            f'<foreach collection="{node.collection}"> needs a list parameter',
            location=Location(None, node.line, None, "sql"),
            hint="declare the parameter with type list[...]",
        )
    out.add_text(node.open)
    for position, value in enumerate(items):
        if position:
            out.add_text(node.separator)
        inner_scope = dict(scope)
        inner_scope[node.item] = value
        if node.index:
            inner_scope[node.index] = position
        _render(node.body, inner_scope, out)
    out.add_text(node.close)


def render(template: Template, values: Mapping[str, object]) -> RenderedSql:
    """The SQL for ``values`` (missing optional parameters are absent or None)."""
    out = _Builder()
    _render(template.nodes, values, out)
    parts = list(out.parts)
    parts[0] = parts[0].lstrip()
    parts[-1] = parts[-1].rstrip().rstrip(";").rstrip()
    return RenderedSql(tuple(parts), tuple(out.values))
