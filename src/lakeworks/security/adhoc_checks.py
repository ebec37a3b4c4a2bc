"""What ad-hoc SQL may contain: statement kinds, constructs and functions.

``check_statement`` runs on what the user wrote; ``check_constructs`` again on what runs
(views inlined by ``security.rewrite``), with the warehouse-defined functions it calls.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.tokenizer_core import TokenType

from lakeworks.errors import Location, UserError
from lakeworks.sql.script import ParsedStatement, get_dialect

QUERY_PATH = "<query>"

_ALLOWED = (
    exp.Query,
    exp.Insert,
    exp.Create,
    exp.Drop,
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.TruncateTable,
    exp.Describe,
)
_TABLE_KINDS = frozenset({"TABLE", "VIEW"})
PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_DENIED_FUNCTIONS = re.compile(
    r"^(read_|glob$|getenv$|query$|query_table|sniff_csv|parquet_|duckdb_|pragma_|"
    r"current_setting$|iceberg_|delta_|sqlite_|postgres_|mysql_|json_execute|load_|"
    r"install_|which_secret|http|s3|system$|checkpoint|force_checkpoint|enable_|disable_|"
    r"set_|reset_|.*_scan$)",
    re.IGNORECASE,
)
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
# Words a parenthesis follows that are syntax or types, not calls of a function by name.
_SYNTAX = frozenset(
    [
        "all",
        "and",
        "any",
        "array",
        "as",
        "between",
        "by",
        "cast",
        "check",
        "columns",
        "conflict",
        "decimal",
        "default",
        "distinct",
        "else",
        "exclude",
        "exists",
        "extract",
        "filter",
        "from",
        "in",
        "interval",
        "into",
        "is",
        "join",
        "key",
        "lateral",
        "like",
        "list",
        "map",
        "materialized",
        "not",
        "numeric",
        "on",
        "or",
        "over",
        "partition",
        "pivot",
        "primary",
        "qualify",
        "recursive",
        "references",
        "rename",
        "replace",
        "returning",
        "row",
        "select",
        "set",
        "some",
        "struct",
        "table",
        "then",
        "try_cast",
        "union",
        "unique",
        "unpivot",
        "using",
        "values",
        "varchar",
        "view",
        "when",
        "where",
        "window",
        "with",
        "within",
    ]
)
# Statements that may not hide inside another one (``SELECT * FROM (SUMMARIZE t)``).
_NESTED_REFUSED = (
    exp.Summarize,
    exp.Command,
    exp.Pragma,
    exp.Set,
    exp.Copy,
    exp.Attach,
    exp.Detach,
    exp.Use,
    exp.Describe,
    exp.Show,
    exp.Install,
    exp.LoadData,
    exp.Export,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
)


def _function_name(func: exp.Func) -> str:
    return func.name if isinstance(func, exp.Anonymous) else func.sql_name()


def check_statement(statement: ParsedStatement) -> None:
    """``UserError`` for a statement kind or construct ad-hoc SQL may not use."""
    check_tree(statement.expression, Location(QUERY_PATH, statement.line, statement.column))


def check_tree(tree: exp.Expr, where: Location) -> None:
    """``UserError`` (at ``where``) for a statement kind or construct ad-hoc SQL may not
    use."""
    if not isinstance(tree, _ALLOWED):
        raise UserError(
            f"{type(tree).__name__.upper()} statements are not allowed in ad-hoc queries",
            location=where,
            hint="ad-hoc SQL may query tables and, in dev, create and change them",
        )
    if isinstance(tree, exp.Create | exp.Drop):
        kind = str(tree.args.get("kind") or "").upper()
        if kind not in _TABLE_KINDS:
            raise UserError(
                f"CREATE/DROP {kind or '?'} is not allowed in ad-hoc queries",
                location=where,
                hint="only tables and views",
            )
    for table in tree.find_all(exp.Table):
        parts = [p.name for p in (table.args.get("catalog"), table.args.get("db")) if p]
        parts.append(table.name)
        if isinstance(table.this, exp.Identifier) and not all(
            PLAIN_NAME.match(part) for part in parts
        ):
            raise UserError(
                f"'{'.'.join(parts)}' is not a table name",
                location=where,
                hint="files cannot be read ad hoc; load them with a sync node",
            )
    check_constructs(tree, where)


def check_constructs(
    tree: exp.Expr, where: Location, user_functions: frozenset[str] = frozenset()
) -> None:
    """``UserError`` for what may not appear anywhere in a statement ad hoc: nested
    statements, table functions, functions reading files, settings or the environment,
    and functions defined in the warehouse (``user_functions``: their bodies cannot be
    checked). Runs on what the user wrote and again on what runs (views inlined)."""
    for node in tree.walk():
        if node is not tree and isinstance(node, _NESTED_REFUSED):
            raise UserError(
                f"{type(node).__name__.upper()} is not allowed inside an ad-hoc query",
                location=where,
                hint="ad-hoc SQL may query tables and, in dev, create and change them",
            )
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise UserError(
                f"table functions are not allowed in ad-hoc queries: {table.this.sql()[:60]}",
                location=where,
                hint="read warehouse tables by name",
            )
    for func in tree.find_all(exp.Func):
        name = _function_name(func)
        if _DENIED_FUNCTIONS.match(name):
            raise UserError(
                f"function {name.upper()} is not allowed in ad-hoc queries",
                location=where,
                hint="functions that read files, settings or the environment are refused",
            )
        if name.lower() in user_functions:
            raise UserError(
                f"function {name.upper()} is defined in the warehouse and cannot be "
                "checked, so ad-hoc queries may not call it",
                location=where,
                hint="write the expression out, or query a table a node materialised",
            )


def unknown_functions(
    text: str,
    dialect: str,
    builtins: Callable[[], frozenset[str]],
    defined: Callable[[], frozenset[str]],
) -> frozenset[str]:
    """The functions the statement ``text`` calls that are ``defined`` in the warehouse
    (macros), not built in. Built-ins come first in ad-hoc sessions, so only words before
    a parenthesis that are not ``builtins`` need the (slow) ``defined`` look-up."""
    tokens = get_dialect(dialect).tokenize(text)
    called = {
        token.text.lower()
        for token, following in itertools.pairwise(tokens)
        if following.token_type == TokenType.L_PAREN and _WORD.match(token.text)
    }
    unknown = called - builtins() - _SYNTAX
    return frozenset(unknown & defined()) if unknown else frozenset()
