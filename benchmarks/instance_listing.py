"""Operations Center listing with a million instances in PostgreSQL.

Fills a throwaway schema with N instances (200 nodes in 10 workflows, hourly and daily
cycles over many days, mostly finished), then times the listing the console and
``lakeworks ops list`` use (newest first, keyset pages) for each filter: none, state,
business date, workflow, node, owner, a run, and a deep page. Each query is run a few
times; the table shows the median, the RESULT line the slowest filter.

Uses ``LAKEWORKS_TEST_POSTGRES_URL`` (default the local ``test`` database).
``--quick`` uses 20,000 instances.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

from lakeworks.runtime.ops import InstanceFilter, list_instances
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

FILL = """
INSERT INTO instances (workspace, env, node_key, workflow, run_type, run_key, cycle_time,
    bizdate, state, reason, attempts, max_attempts, priority, resource_group, owner,
    created_at, started_at, finished_at)
SELECT 'big', 'prod', 'wf' || mod(n, 10) || '.node' || mod(n, 200), 'wf' || mod(n, 10),
    'scheduled', 'schedule',
    timestamp '2024-01-01' + (n / 200) * interval '1 hour' + mod(n, 200) * interval '1 second',
    to_char(timestamp '2024-01-01' + (n / 200) * interval '1 hour' - interval '1 day',
            'YYYYMMDD'),
    CASE WHEN mod(n, 97) = 0 THEN 'failed' WHEN mod(n, 89) = 0 THEN 'waiting_upstream'
         ELSE 'success' END,
    NULL, 1, 1, mod(n, 4), 'default', 'owner' || mod(n, 7),
    now(), now(), now()
FROM generate_series(1, %(count)s) AS n
"""


RARE = """
UPDATE instances SET owner = 'rare', workflow = 'rare' WHERE id IN (SELECT min(id) FROM instances)
"""


def admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    )


def timed(call: Callable[[], object], rounds: int = 5) -> float:
    """Median milliseconds of ``call``."""
    call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="smoke run with 20,000 instances")
    args = parser.parse_args()
    count = 20_000 if args.quick else args.instances
    base = os.environ.get("LAKEWORKS_TEST_POSTGRES_URL", DEFAULT_URL)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        db = Database.open(url.render_as_string(hide_password=False))
        try:
            started = time.perf_counter()
            with db.write() as conn:
                conn.exec_driver_sql(FILL, {"count": count})
                conn.exec_driver_sql(RARE)
            with db.write() as conn:
                conn.exec_driver_sql("ANALYZE instances")
            fill = time.perf_counter() - started
            scope = {"workspace": "big", "env": "prod"}
            newest = list_instances(db, InstanceFilter(**scope), limit=50)
            deep_page = newest.items[-1].id - count // 2
            cases: list[tuple[str, InstanceFilter, int | None]] = [
                ("no filter", InstanceFilter(**scope), None),
                ("no filter, page in the middle", InstanceFilter(**scope), deep_page),
                ("state failed", InstanceFilter(**scope, states=(InstanceState.FAILED,)), None),
                ("business date", InstanceFilter(**scope, bizdate="20240610"), None),
                ("workflow", InstanceFilter(**scope, workflow="wf3"), None),
                ("node", InstanceFilter(**scope, nodes=("wf3.node13",)), None),
                ("owner", InstanceFilter(**scope, owner="owner5"), None),
                ("rare owner (a few rows)", InstanceFilter(**scope, owner="rare"), None),
                ("rare workflow (a few rows)", InstanceFilter(**scope, workflow="rare"), None),
                (
                    "workflow + state + date",
                    InstanceFilter(
                        **scope,
                        workflow="wf1",
                        states=(InstanceState.SUCCESS,),
                        bizdate="20240301",
                    ),
                    None,
                ),
            ]
            rows = []
            for name, where, before in cases:
                found = list_instances(db, where, before_id=before, limit=50).items
                rows.append(
                    (
                        name,
                        len(found),
                        timed(
                            lambda w=where, b=before: list_instances(db, w, before_id=b, limit=50)
                        ),
                    )
                )
        finally:
            db.close()
    finally:
        with admin(base) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    width = max(len(name) for name, _, _ in rows)
    print(f"{count} instances filled in {fill:.1f} s")
    print(f"{'listing (50 per page)':<{width}}  {'rows':>5}  {'ms':>7}")
    for name, found, ms in rows:
        print(f"{name:<{width}}  {found:>5}  {ms:>7.1f}")
    worst = max(ms for _, _, ms in rows)
    print(f"RESULT instance_list_slowest_ms {worst:.1f} ms (target < 100)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
