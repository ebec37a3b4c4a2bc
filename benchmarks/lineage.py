"""Data Map benchmark: column lineage of 2,000 SQL nodes, impact of a root table, search.

Generates a layered workspace (ods source tables → dwd → dws → ads) of SQL nodes with
CTEs, joins, aggregates, window functions and ``SELECT *``, 20-60 output columns each,
then times, on a SQLite metadata store:

- parsing + analysing every node's column lineage (``analyse_workspace``), in one
  process and in one process per CPU (as ``lakeworks map build`` does),
- storing it (``save_lineage``), the two together being the lineage target,
- downstream impact analysis of a root table over the whole graph (best of 5),
- for scale, a column impact and a full-text search over 50,000 catalog tables.

    python benchmarks/lineage.py            # 2,000 nodes, 50,000 tables for search
    python benchmarks/lineage.py --quick    # 60 nodes, 1,000 tables: a smoke run
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from lakeworks.catalog.impact import impact
from lakeworks.catalog.lineage_index import analyse_workspace
from lakeworks.catalog.lineage_store import save_lineage
from lakeworks.catalog.models import CatalogColumn, HarvestedTable
from lakeworks.catalog.repository import CatalogRepository
from lakeworks.catalog.search import search
from lakeworks.catalog.service import default_workers
from lakeworks.spec.loader import load_workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

T = TypeVar("T")
ENV = "dev"
ROOT = "ods_t0"


def _columns(rng: random.Random) -> int:
    return rng.randint(20, 60)


def generate(root: Path, nodes: int, seed: int = 7) -> tuple[dict[str, list[str]], str]:
    """Write a workspace of ``nodes`` SQL nodes; returns (source schemas, root table)."""
    rng = random.Random(seed)
    sources = max(10, nodes // 10)
    schemas: dict[str, list[str]] = {}
    for i in range(sources):
        schemas[f"ods_t{i}"] = ["id", *(f"c{k}" for k in range(_columns(rng))), "ds"]
    layers = [("dwd", nodes * 2 // 5), ("dws", nodes * 7 // 20)]
    layers.append(("ads", nodes - sum(n for _, n in layers)))
    (root / "lakeworks.yml").write_text("name: bench\nsql_dialect: maxcompute\n")
    previous = list(schemas)
    written: dict[str, list[str]] = dict(schemas)
    for layer, count in layers:
        folder = root / "workflows" / layer
        folder.mkdir(parents=True)
        current: list[str] = []
        for i in range(count):
            target = f"{layer}_t{i}"
            parents = rng.sample(previous, k=min(len(previous), rng.choice((1, 2, 2, 3))))
            if layer == "dwd" and ROOT not in parents and rng.random() < 0.3:
                parents.append(ROOT)  # a shared source: its impact spans the whole graph
            sql, columns = _node_sql(rng, target, parents, written)
            (folder / f"{target}.sql").write_text(sql)
            written[target] = columns
            current.append(target)
        previous = current
    return schemas, ROOT


def _node_sql(
    rng: random.Random, target: str, parents: list[str], written: dict[str, list[str]]
) -> tuple[str, list[str]]:
    """One node: a CTE per parent, joined on id, 20-60 output columns."""
    main = parents[0]
    main_cols = [c for c in written[main] if c not in ("id", "ds")]
    if rng.random() < 0.1:
        # SELECT * over the main parent: columns come from the parent's schema.
        sql = (
            f"INSERT OVERWRITE TABLE {target} PARTITION (ds='${{bizdate}}')\n"
            f"SELECT * FROM (SELECT p.id, {', '.join(f'p.{c}' for c in main_cols)} "
            f"FROM {main} p WHERE p.ds = '${{bizdate}}') x;\n"
        )
        return sql, ["id", *main_cols, "ds"]
    wanted = _columns(rng)
    ctes = []
    outputs = ["b0.id"]
    names = ["id"]
    for n, parent in enumerate(parents):
        cols = [c for c in written[parent] if c not in ("id", "ds")]
        picked = rng.sample(cols, k=min(len(cols), max(3, wanted // len(parents))))
        if n == 0:
            body = ", ".join(
                f"a.{c}" if k % 3 else f"a.{c} * 2 AS {c}" for k, c in enumerate(picked)
            )
            ctes.append(
                f"b{n} AS (SELECT a.id, {body} FROM {parent} a WHERE a.ds = '${{bizdate}}')"
            )
        else:
            body = ", ".join(f"SUM(a.{c}) AS {c}" for c in picked)
            ctes.append(f"b{n} AS (SELECT a.id, {body} FROM {parent} a GROUP BY a.id)")
        for k, c in enumerate(picked):
            alias = f"x{len(names)}"
            if k % 7 == 3:
                expr = f"SUM(b{n}.{c}) OVER (PARTITION BY b0.id ORDER BY b{n}.{c})"
            elif k % 5 == 1:
                expr = f"COALESCE(b{n}.{c}, 0) + 1"
            elif k % 11 == 2:
                expr = f"CASE WHEN b{n}.{c} > 0 THEN b{n}.{c} ELSE NULL END"
            else:
                expr = f"b{n}.{c}"
            outputs.append(f"{expr} AS {alias}")
            names.append(alias)
            if len(names) >= wanted:
                break
    joins = "".join(f"\nLEFT JOIN b{n} ON b{n}.id = b0.id" for n in range(1, len(parents)))
    sql = (
        f"INSERT OVERWRITE TABLE {target} PARTITION (ds='${{bizdate}}')\n"
        f"WITH {', '.join(ctes)}\n"
        f"SELECT {', '.join(outputs)}\nFROM b0{joins};\n"
    )
    return sql, [*names, "ds"]


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def best_of(fn: Callable[[], object], times: int) -> float:
    return min(timed(fn)[1] for _ in range(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(argv)
    nodes = 60 if args.quick else 2000
    search_tables = 1000 if args.quick else 50_000

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        schemas, root_table = generate(root, nodes)
        workspace, load_s = timed(lambda: load_workspace(root))
        db = Database.open(f"sqlite:///{Path(tmp) / 'meta.db'}")
        one, one_s = timed(lambda: analyse_workspace(workspace, schemas))
        workers = default_workers()
        items, analyse_s = timed(lambda: analyse_workspace(workspace, schemas, workers=workers))
        assert [i.edges for i in items] == [i.edges for i in one], "processes changed lineage"
        _, save_s = timed(
            lambda: save_lineage(db, workspace, ENV, items, now=utcnow(), replace_all=True)
        )
        edges = sum(len(i.edges) for i in items)
        unresolved = sum(len(i.unresolved) for i in items)
        report = impact(db, workspace.name, ENV, root_table)
        impact_s = best_of(lambda: impact(db, workspace.name, ENV, root_table), 5)
        column = schemas[root_table][1]
        column_report = impact(db, workspace.name, ENV, root_table, column)
        column_s = best_of(lambda: impact(db, workspace.name, ENV, root_table, column), 5)

        repo = CatalogRepository(db, workspace.name, ENV)
        rng = random.Random(3)
        words = ["orders", "customer", "payment", "refund", "session", "item", "store", "city"]
        catalog = [
            HarvestedTable(
                f"{rng.choice(['ods', 'dwd', 'dws', 'ads'])}_{rng.choice(words)}_{i}",
                comment=f"{rng.choice(words)} facts from system {i % 97}",
                columns=tuple(
                    CatalogColumn(f"{rng.choice(words)}_{k}", "BIGINT") for k in range(8)
                ),
            )
            for i in range(search_tables)
        ]
        _, index_s = timed(lambda: repo.save_harvest("bench", catalog, now=utcnow()))
        hits = search(db, workspace.name, ENV, "payment refund")
        search_s = best_of(lambda: search(db, workspace.name, ENV, "payment refund"), 5)
        db.close()

    total = analyse_s + save_s
    rows = [
        ("nodes", f"{len(items)}", ""),
        ("column edges", f"{edges}", f"{unresolved} unresolved"),
        ("load workspace files", f"{load_s:.2f} s", "not part of lineage"),
        (
            "parse + analyse, one process",
            f"{one_s:.2f} s",
            f"{one_s / len(one) * 1000:.1f} ms/node",
        ),
        (
            f"parse + analyse, {workers} processes",
            f"{analyse_s:.2f} s",
            "as lakeworks map build does it",
        ),
        ("store lineage (SQLite)", f"{save_s:.2f} s", ""),
        ("lineage total", f"{total:.2f} s", f"{workers} processes + store; target < 20 s"),
        ("lineage total in one process", f"{one_s + save_s:.2f} s", ""),
        (
            f"impact of {root_table}",
            f"{impact_s * 1000:.1f} ms",
            f"{len(report.tables)} tables, {len(report.nodes)} nodes downstream",
        ),
        (
            f"impact of {root_table}.{column}",
            f"{column_s * 1000:.1f} ms",
            f"{len(column_report.columns)} columns reached",
        ),
        (f"index {search_tables} tables for search", f"{index_s:.2f} s", ""),
        ("search 'payment refund'", f"{search_s * 1000:.1f} ms", f"{len(hits)} hits shown"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")
    print(f"RESULT lineage_2000_nodes {total:.2f} s (target < 20)")
    print(f"RESULT impact_root {impact_s * 1000:.1f} ms (target < 200)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
