"""Time the SQL layer on a workspace of small MaxCompute nodes, as `validate` uses it.

For each node: render parameters for a sample date, extract table I/O, translate to
DuckDB (parse cache cleared first, so every script is parsed once as in a fresh
process). Beside it, the floor: sqlglot parsing the same scripts (MaxCompute dialect)
and nothing else.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime

import sqlglot

from lakeworks.sql.params import ParamContext, render
from lakeworks.sql.script import _parse_cached
from lakeworks.sql.tables import table_io
from lakeworks.sql.translate import translate_script

TARGET_SECONDS = 3.0


def node_sql(i: int) -> str:
    """A typical small node: partitioned DDL plus a daily partition overwrite."""
    return f"""-- node {i}
CREATE TABLE IF NOT EXISTS dws_t{i} (k STRING, v DOUBLE, n BIGINT)
PARTITIONED BY (ds STRING) LIFECYCLE 30;
INSERT OVERWRITE TABLE dws_t{i} PARTITION (ds='${{bizdate}}')
SELECT a.k, SUM(a.v) AS v, COUNT(DISTINCT b.id) AS n
FROM dwd_t{i} a LEFT JOIN dim_x b ON a.k = b.k
WHERE a.ds = '${{bizdate}}'
  AND b.dt >= TO_CHAR(DATEADD(GETDATE(), -7, 'dd'), 'yyyymmdd')
GROUP BY a.k;
"""


def run(nodes: int) -> dict[str, float]:
    texts = [node_sql(i) for i in range(nodes)]
    ctx = ParamContext(datetime(2000, 1, 2), {})
    _parse_cached.cache_clear()
    started = time.perf_counter()
    rendered = [render(t, ctx) for t in texts]
    after_render = time.perf_counter()
    for text in rendered:
        table_io(text, "maxcompute")
    after_io = time.perf_counter()
    for text in rendered:
        translate_script(text, source_dialect="maxcompute", target_dialect="duckdb")
    after_translate = time.perf_counter()
    floor_started = time.perf_counter()
    for text in rendered:
        sqlglot.parse(text, read="maxcompute")
    floor = time.perf_counter() - floor_started
    return {
        "render": after_render - started,
        "table_io (parse)": after_io - after_render,
        "translate (cached parse)": after_translate - after_io,
        "total": after_translate - started,
        "sqlglot parse only": floor,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="smoke run with 20 nodes")
    args = parser.parse_args(argv)
    nodes = 20 if args.quick else args.nodes
    figures = run(nodes)
    print(f"{'step':<26} {'seconds':>9} {'ms/node':>9}")
    for name, seconds in figures.items():
        print(f"{name:<26} {seconds:>9.3f} {seconds * 1000 / nodes:>9.3f}")
    ratio = figures["total"] / figures["sqlglot parse only"]
    print(f"total / sqlglot parse only: {ratio:.2f}x")
    scaled = figures["total"] * 1000 / nodes
    print(f"RESULT sql_validate_1000_nodes {scaled:.2f} s (target < {TARGET_SECONDS:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
