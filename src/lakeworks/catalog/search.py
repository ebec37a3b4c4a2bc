"""Full-text search over the Data Map, on the metadata database's own index.

One search document per table (name, columns, comments and descriptions, tags, layer,
owner) and per node (key, code, description, tags). SQLite ranks with FTS5's ``bm25``,
PostgreSQL with ``ts_rank`` over a weighted ``tsvector``; both weigh a match in the name
above columns, tags, descriptions and code, and an exact name match comes first.
Every query word matches as a prefix (``ord`` finds ``orders``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from lakeworks.catalog.bulk import insert_plain
from lakeworks.catalog.tables import SEARCH_WEIGHTS, catalog_search_docs
from lakeworks.errors import UserError
from lakeworks.store.database import Database

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_FTS_COLUMNS = ("name", "columns", "docs", "tags", "code")
_CANDIDATES = 5
"""Candidates fetched per result wanted, re-ranked for exact and name matches."""


@dataclass(frozen=True)
class SearchDoc:
    """A document to index: ``kind`` is ``table`` or ``node``; ``ref`` its name."""

    kind: str
    ref: str
    name: str
    columns: tuple[str, ...] = ()
    docs: str = ""
    tags: str = ""
    code: str = ""


@dataclass(frozen=True)
class SearchHit:
    kind: str
    ref: str
    score: float
    matched: tuple[str, ...]
    """Fields the query matched in: name, columns, tags, docs, code."""
    columns: tuple[str, ...]
    """Column names that contain a query word (tables only)."""


def words(text: str) -> list[str]:
    """Lower-case words of ``text``; ``_``, ``.`` and punctuation separate words."""
    return [w.lower() for w in _WORD.findall(text)]


def _normal(text: str) -> str:
    return " ".join(words(text))


def index(conn: sa.Connection, workspace: str, env: str, docs: Sequence[SearchDoc]) -> None:
    """Add or replace search documents (in the caller's transaction)."""
    if not docs:
        return
    t = catalog_search_docs
    refs = [(d.kind, d.ref) for d in docs]
    remove(conn, workspace, env, refs)
    rows = [
        {
            "workspace": workspace,
            "env": env,
            "kind": d.kind,
            "ref": d.ref,
            "name": f"{_normal(d.name)} {d.name.lower()}",
            "columns": " ".join(c.lower() for c in d.columns),
            "docs": _normal(d.docs),
            "tags": _normal(d.tags),
            "code": _normal(d.code),
        }
        for d in docs
    ]
    insert_plain(conn, t.name, rows)
    if conn.dialect.name == "sqlite":
        ids: dict[tuple[str, str], int] = {}
        for start in range(0, len(refs), 500):
            chunk = refs[start : start + 500]
            for row in conn.execute(
                sa.select(t.c.id, t.c.kind, t.c.ref).where(
                    t.c.workspace == workspace,
                    t.c.env == env,
                    sa.tuple_(t.c.kind, t.c.ref).in_(chunk),
                )
            ):
                ids[(row.kind, row.ref)] = row.id
        insert_plain(
            conn,
            "catalog_search_fts",
            [{"rowid": ids[(r["kind"], r["ref"])], **_fts_values(r)} for r in rows],
        )


def _fts_values(row: dict[str, str]) -> dict[str, str]:
    return {k: row[k] for k in _FTS_COLUMNS}


def remove(conn: sa.Connection, workspace: str, env: str, refs: Iterable[tuple[str, str]]) -> None:
    """Remove the documents ``(kind, ref)`` from the index."""
    t = catalog_search_docs
    wanted = list(refs)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        where = sa.and_(
            t.c.workspace == workspace,
            t.c.env == env,
            sa.tuple_(t.c.kind, t.c.ref).in_(chunk),
        )
        if conn.dialect.name == "sqlite":
            ids = [r.id for r in conn.execute(sa.select(t.c.id).where(where))]
            if ids:
                conn.execute(
                    sa.text("DELETE FROM catalog_search_fts WHERE rowid IN :ids").bindparams(
                        sa.bindparam("ids", expanding=True)
                    ),
                    {"ids": ids},
                )
        conn.execute(sa.delete(t).where(where))


def remove_kind(conn: sa.Connection, workspace: str, env: str, kind: str) -> None:
    """Remove every document of ``kind`` (``table`` or ``node``) from the index."""
    t = catalog_search_docs
    where = sa.and_(t.c.workspace == workspace, t.c.env == env, t.c.kind == kind)
    if conn.dialect.name == "sqlite":
        ids = [r.id for r in conn.execute(sa.select(t.c.id).where(where))]
        for start in range(0, len(ids), 500):
            conn.execute(
                sa.text("DELETE FROM catalog_search_fts WHERE rowid IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": ids[start : start + 500]},
            )
    conn.execute(sa.delete(t).where(where))


def search(
    db: Database,
    workspace: str,
    env: str,
    text: str,
    *,
    limit: int = 20,
    kinds: Sequence[str] = (),
) -> list[SearchHit]:
    """Documents matching every word of ``text``, best first."""
    terms = words(text)
    if not terms:
        raise UserError("nothing to search for", hint="give a word: a table, column, tag or text")
    fetch = max(limit, 1) * _CANDIDATES
    with db.read() as conn:
        if conn.dialect.name == "postgresql":
            rows = _search_postgres(conn, workspace, env, terms, fetch, kinds)
        else:
            rows = _search_sqlite(conn, workspace, env, terms, fetch, kinds)
    hits = [_hit(row, terms, text) for row in rows]
    hits.sort(key=lambda h: -h.score)
    return hits[:limit]


def _search_sqlite(
    conn: sa.Connection,
    workspace: str,
    env: str,
    terms: list[str],
    fetch: int,
    kinds: Sequence[str],
) -> list[sa.Row[tuple[object, ...]]]:
    match = " AND ".join(f'"{term}"*' for term in terms)
    weights = ", ".join(str(SEARCH_WEIGHTS[c]) for c in _FTS_COLUMNS)
    kind_filter = " AND d.kind IN :kinds" if kinds else ""
    query = sa.text(
        "SELECT d.kind, d.ref, d.name, d.columns, d.docs, d.tags, d.code, "
        f"-bm25(catalog_search_fts, {weights}) AS rank "
        "FROM catalog_search_fts JOIN catalog_search_docs d ON d.id = catalog_search_fts.rowid "
        "WHERE catalog_search_fts MATCH :match AND d.workspace = :ws AND d.env = :env"
        f"{kind_filter} ORDER BY rank DESC LIMIT :fetch"
    )
    params: dict[str, object] = {"match": match, "ws": workspace, "env": env, "fetch": fetch}
    if kinds:
        query = query.bindparams(sa.bindparam("kinds", expanding=True))
        params["kinds"] = list(kinds)
    return list(conn.execute(query, params))


def _search_postgres(
    conn: sa.Connection,
    workspace: str,
    env: str,
    terms: list[str],
    fetch: int,
    kinds: Sequence[str],
) -> list[sa.Row[tuple[object, ...]]]:
    tsquery = " & ".join(f"{term}:*" for term in terms)
    kind_filter = " AND d.kind = ANY(:kinds)" if kinds else ""
    query = sa.text(
        "SELECT d.kind, d.ref, d.name, d.columns, d.docs, d.tags, d.code, "
        "ts_rank(d.tsv, q) AS rank "
        "FROM catalog_search_docs d, to_tsquery('simple', :q) q "
        "WHERE d.tsv @@ q AND d.workspace = :ws AND d.env = :env"
        f"{kind_filter} ORDER BY rank DESC LIMIT :fetch"
    )
    params: dict[str, object] = {"q": tsquery, "ws": workspace, "env": env, "fetch": fetch}
    if kinds:
        params["kinds"] = list(kinds)
    return list(conn.execute(query, params))


def _hit(row: sa.Row[tuple[object, ...]], terms: list[str], text: str) -> SearchHit:
    kind, ref, name, columns, docs, tags, code, rank = tuple(row)
    fields = {"name": name, "columns": columns, "docs": docs, "tags": tags, "code": code}
    matched = tuple(
        field
        for field, value in fields.items()
        if any(w.startswith(t) for t in terms for w in words(str(value)))
    )
    hit_columns = tuple(
        c for c in str(columns).split() if any(w.startswith(t) for t in terms for w in words(c))
    )
    score = float(str(rank or 0.0))
    ref_text = str(ref)
    if ref_text.lower() == text.strip().lower():
        score += 1000.0  # the exact name first
    elif all(any(w.startswith(t) for w in str(name).split()) for t in terms):
        score += 100.0  # every word in the name beats matches spread over fields
    return SearchHit(str(kind), ref_text, score, matched, hit_columns)
