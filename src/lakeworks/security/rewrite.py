"""Ad-hoc statements rewritten at their table references, so that grants and masking
hold whatever the rest of the statement does.

Every table reference of a parsed (DuckDB) statement is placed scope by scope
(``sql.tables.cte_references``):

- a reference to a CTE is renamed, with its CTE, to a generated name, so the engine
  cannot resolve it differently (a self-referencing non-recursive CTE reads a table);
- every other reference is resolved as the engine resolves names (``Relations``) and
  fully qualified; a view is replaced by its own definition, rewritten the same way
  (views of views too), so the tables it reads need grants and stay masked;
- a table (or view) with masked columns is replaced by a projection that already
  masks them, so stars, row structs, positional references, ``COLUMNS(…)``, JSON,
  filters, joins and error messages downstream only ever see masked values.

Whatever cannot be placed or rewritten is refused (``UserError`` for constructs,
``PermissionDenied`` for changes the masking cannot cover).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from lakeworks.engines.base import ColumnInfo, RelationInfo
from lakeworks.errors import Location, PermissionDenied, UserCodeError, UserError
from lakeworks.security.masking import mask_sql, rule_for
from lakeworks.security.models import MaskingRule
from lakeworks.sql.tables import cte_references, statement_tables, table_name, write_targets

DIALECT = "duckdb"
MAX_VIEW_DEPTH = 16
CTE_PREFIX = "_lw_cte_"

# Table arguments a masked projection carries over; any other one is refused.
_CARRIED = ("pivots", "sample", "joins", "laterals")
_PLAIN = frozenset({"this", "db", "catalog", "alias", *_CARRIED})
_SYSTEM_DATABASES = frozenset({"system"})
_CHANGES = (exp.Update, exp.Delete, exp.Merge)


class Relations:
    """Resolves table names like DuckDB's default search path: temporary tables, the
    current database's ``main`` schema, then the system catalog."""

    def __init__(self, current: str, relations: Sequence[RelationInfo]) -> None:
        self.current = current.lower()
        self.database = current
        """The current database's name as the engine spells it."""
        self._by_key = {
            (r.database.lower(), r.schema.lower(), r.name.lower()): r for r in relations
        }

    def resolve(self, parts: Sequence[str], home: tuple[str, str] | None) -> RelationInfo | None:
        """The relation ``parts`` (``[catalog.][schema.]name``) names; inside a view,
        ``home`` (its database and schema) comes first."""
        names = [p.lower() for p in parts]
        candidates: list[tuple[str, str, str]]
        if len(names) == 3:
            candidates = [(names[0], names[1], names[2])]
        elif len(names) == 2:
            candidates = [
                (self.current, names[0], names[1]),
                (names[0], "main", names[1]),
                ("system", names[0], names[1]),
            ]
        else:
            candidates = [(home[0].lower(), home[1].lower(), names[0])] if home else []
            candidates += [
                ("temp", "main", names[0]),
                (self.current, "main", names[0]),
                ("system", "main", names[0]),
                ("system", "pg_catalog", names[0]),
            ]
        for key in candidates:
            if key in self._by_key:
                return self._by_key[key]
        return None


@dataclass
class Guarded:
    """A statement after the rewrite, and what it reads."""

    tree: exp.Expr
    reads: set[str] = field(default_factory=set)
    """Every table and view read (lower-case names as written), inside views too."""
    masked: set[str] = field(default_factory=set)
    """Tables and views read through a masking projection."""


def _refused(message: str, hint: str, location: Location | None) -> UserError:
    return UserError(message, location=location, hint=hint)


class Rewriter:
    """Rewrites statements for one person (their masking rules) on one warehouse."""

    def __init__(
        self,
        relations: Relations,
        rules: Sequence[MaskingRule],
        *,
        location: Location | None = None,
    ) -> None:
        self.relations = relations
        self.rules = list(rules)
        self.location = location
        self._names = itertools.count(1)

    def statement(self, tree: exp.Expr) -> Guarded:
        """Rewrite ``tree`` in place; returns it with the tables it reads."""
        guarded = Guarded(tree)
        written, _ = write_targets(tree)
        skip = {id(t) for t in written}
        upsert = isinstance(tree, exp.Insert) and tree.args.get("conflict")
        if isinstance(tree, _CHANGES) or upsert:
            for target in written:
                self._refuse_masked_target(target)
        for target in written:
            self._qualify_target(tree, target)
        if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() == "VIEW":
            # Stored, not run: checked (and masked) each time the view is read.
            guarded.reads |= statement_tables(tree).reads
            return guarded
        if isinstance(tree, exp.Describe) and isinstance(tree.this, exp.Table):
            self._resolve(tree.this, None)  # only its columns are shown
            guarded.reads.add(self._name(tree.this))
            skip.add(id(tree.this))
        self._rewrite(tree, guarded, skip=skip, home=None, chain=())
        return guarded

    # -- one tree ---------------------------------------------------------------------

    def _rewrite(
        self,
        tree: exp.Expr,
        guarded: Guarded,
        *,
        skip: set[int],
        home: tuple[str, str] | None,
        chain: tuple[str, ...],
    ) -> None:
        ctes = cte_references(tree)
        definitions = list(tree.find_all(exp.CTE))
        renamed = {id(cte): f"{CTE_PREFIX}{next(self._names)}" for cte in definitions}
        for table in list(tree.find_all(exp.Table)):
            if id(table) in skip:
                continue
            cte = ctes.get(id(table))
            if cte is not None and id(cte) in renamed:
                if not table.args.get("alias"):
                    table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
                table.set("this", exp.to_identifier(renamed[id(cte)]))
                continue
            self._real(table, guarded, home=home, chain=chain)
        for cte in definitions:
            alias = cte.args.get("alias")
            if isinstance(alias, exp.TableAlias):
                alias.set("this", exp.to_identifier(renamed[id(cte)]))

    def _real(
        self,
        table: exp.Table,
        guarded: Guarded,
        *,
        home: tuple[str, str] | None,
        chain: tuple[str, ...],
    ) -> None:
        extra = sorted(k for k, v in table.args.items() if v and k not in _PLAIN)
        if extra:
            raise _refused(
                f"'{table.sql(dialect=DIALECT)[:80]}' uses {extra[0]}, which ad-hoc queries "
                "cannot check",
                "read the table by its plain name",
                self.location,
            )
        name = self._name(table)
        relation = self._resolve(table, home)
        guarded.reads.add(name)
        alias = table.args.get("alias")
        if not isinstance(alias, exp.TableAlias):
            alias = exp.TableAlias(this=exp.to_identifier(table.name))
        key = f"{relation.database}.{relation.schema}.{relation.name}".lower()
        source: exp.Expr
        if relation.kind == "view":
            if len(chain) >= MAX_VIEW_DEPTH or key in chain:
                raise _refused(
                    f"view '{name}' is nested too deeply (or reads itself) to be checked",
                    f"views may read views up to {MAX_VIEW_DEPTH} levels deep",
                    self.location,
                )
            body, columns = self._view_body(relation, name)
            view_home = (relation.database, relation.schema)
            self._rewrite(body, guarded, skip=set(), home=view_home, chain=(*chain, key))
            inner = exp.TableAlias(this=exp.to_identifier(f"{CTE_PREFIX}view"))
            if columns:
                inner.set("columns", [exp.to_identifier(c, quoted=True) for c in columns])
            source = exp.Subquery(this=body, alias=inner)
        else:
            source = exp.Table(
                this=exp.to_identifier(relation.name, quoted=True),
                db=exp.to_identifier(relation.schema, quoted=True),
                catalog=exp.to_identifier(relation.database, quoted=True),
            )
        masks = self._masks(name, relation)
        replacement: exp.Expr
        if masks:
            guarded.masked.add(name)
            replacement = exp.Subquery(this=self._projection(source, relation, masks), alias=alias)
        elif isinstance(source, exp.Table):
            source.set("alias", alias)
            replacement = source
        else:
            replacement = exp.Subquery(this=exp.select("*").from_(source), alias=alias)
        for arg in _CARRIED:
            if table.args.get(arg):
                replacement.set(arg, table.args[arg])
        table.replace(replacement)

    # -- pieces -----------------------------------------------------------------------

    @staticmethod
    def _name(table: exp.Table) -> str:
        return table_name(table) or table.sql(dialect=DIALECT).lower()

    def _resolve(self, table: exp.Table, home: tuple[str, str] | None) -> RelationInfo:
        if not isinstance(table.this, exp.Identifier):
            raise _refused(
                f"table functions are not allowed in ad-hoc queries: {table.this.sql()[:60]}",
                "read warehouse tables by name",
                self.location,
            )
        parts = [p.name for p in (table.args.get("catalog"), table.args.get("db")) if p]
        parts.append(table.name)
        relation = self.relations.resolve(parts, home)
        name = ".".join(parts)
        if relation is None:
            raise UserCodeError(f"Catalog Error: Table with name {name} does not exist!")
        if relation.internal or relation.database.lower() in _SYSTEM_DATABASES:
            raise _refused(
                f"'{name}' is part of the warehouse's own catalog, which ad-hoc queries "
                "cannot read",
                "the Data Map lists tables and columns",
                self.location,
            )
        return relation

    def _masks(self, name: str, relation: RelationInfo) -> dict[str, MaskingRule]:
        if not self.rules:
            return {}
        qualified = f"{relation.schema}.{relation.name}"
        masks: dict[str, MaskingRule] = {}
        for column in relation.columns:
            rule = rule_for(self.rules, name, column.name) or rule_for(
                self.rules, qualified, column.name
            )
            if rule is not None:
                masks[column.name] = rule
        return masks

    def _qualify_target(self, tree: exp.Expr, target: exp.Table) -> None:
        """Name a written table with its database and schema (temporary tables keep
        their name): the session's search path puts the system catalog first."""
        if target.args.get("catalog") or not isinstance(target.this, exp.Identifier):
            return
        properties = tree.args.get("properties")
        if isinstance(properties, exp.Properties) and any(
            isinstance(p, exp.TemporaryProperty) for p in properties.expressions
        ):
            return
        schema = target.args.get("db")
        found = None
        if not isinstance(tree, exp.Create):
            parts = [p.name for p in (schema, target.this) if p]
            found = self.relations.resolve(parts, None)
        if found is not None:
            database, schema_name = found.database, found.schema
        else:
            database = self.relations.database
            schema_name = schema.name if isinstance(schema, exp.Identifier) else "main"
        target.set("catalog", exp.to_identifier(database, quoted=True))
        target.set("db", exp.to_identifier(schema_name, quoted=True))

    def _refuse_masked_target(self, target: exp.Table) -> None:
        relation = self._resolve(target, None)
        name = self._name(target)
        if self._masks(name, relation):
            raise PermissionDenied(
                f"'{name}' has masked columns: you may not update, delete from or merge "
                "into it ad hoc (its conditions would see unmasked values)",
                hint="a person exempt from its masking rules can make this change",
            )

    def _view_body(self, relation: RelationInfo, name: str) -> tuple[exp.Query, list[str]]:
        try:
            create = sqlglot.parse_one(relation.sql or "", read=DIALECT)
        except SqlglotError:
            create = None
        body = create.expression if isinstance(create, exp.Create) else None
        if not isinstance(body, exp.Query):
            raise _refused(
                f"view '{name}' cannot be checked, so it cannot be read ad hoc",
                "read the tables it reads instead",
                self.location,
            )
        target = create.this if isinstance(create, exp.Create) else None
        columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else []
        return body, columns

    def _projection(
        self, source: exp.Expr, relation: RelationInfo, masks: dict[str, MaskingRule]
    ) -> exp.Select:
        if not relation.columns:
            raise _refused(
                f"the columns of '{relation.name}' are unknown, so it cannot be masked",
                "ask an admin to check the table",
                self.location,
            )
        items: list[exp.Expr] = []
        for column in relation.columns:
            ident = exp.to_identifier(column.name, quoted=True)
            rule = masks.get(column.name)
            if rule is None:
                items.append(exp.column(ident))
                continue
            items.append(exp.alias_(_mask_expression(rule.method, ident, column), ident))
        return exp.select(*items).from_(source)


def _mask_expression(method: str, ident: exp.Identifier, column: ColumnInfo) -> exp.Expr:
    quoted = ident.sql(dialect=DIALECT)
    try:
        return sqlglot.parse_one(mask_sql(method, quoted, column.type), read=DIALECT)
    except SqlglotError:
        return sqlglot.parse_one(mask_sql(method, quoted, "VARCHAR"), read=DIALECT)


def cap_rows(tree: exp.Expr, rows: int) -> exp.Expr:
    """``tree`` returning at most ``rows`` rows when it is a query (a smaller LIMIT of its
    own is kept)."""
    if not isinstance(tree, exp.Select | exp.SetOperation):
        return tree
    limit = tree.args.get("limit")
    if limit is None:
        tree.set("limit", exp.Limit(expression=exp.Literal.number(rows)))
        return tree
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(value, exp.Literal) and value.is_int and int(value.name) <= rows:
        return tree
    alias = exp.TableAlias(this=exp.to_identifier(f"{CTE_PREFIX}capped"))
    return exp.select("*").from_(exp.Subquery(this=tree, alias=alias)).limit(rows)
