"""API latency: listing instances (filtered, paginated) with 1,000,000 instances in
PostgreSQL, and reading a node, against a real ``lakeworks up`` process.

The store is a throwaway PostgreSQL schema filled with ``generate_series`` (SQLite with
``--quick`` when PostgreSQL is not reachable). The API is ``lakeworks up
--no-scheduler`` on that store, started as a user starts it; the load generator sends
requests from several threads, each carrying an API token, and measures each request's
latency. Instance pages mix the first page,
filters (state, node, business date) and deep pages reached by cursor.

    .venv/bin/python benchmarks/api_latency.py            # full size
    .venv/bin/python benchmarks/api_latency.py --quick    # smoke size

Prints a table, then ``RESULT`` lines. Exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
sys.path.insert(0, str(ROOT / "src"))

WORKSPACE = "bench"
NODES = 500
WORKFLOWS = 20
STATES = [
    "success",
    "success",
    "success",
    "success",
    "success",
    "failed",
    "waiting_time",
    "waiting_upstream",
    "running",
    "skipped",
]
PG_DEFAULT = os.environ.get(
    "LAKEWORKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_schema(base: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(base)
    schema = f"lw_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        dbname=parsed.database,
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def _drop_schema(base: str, schema: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(base)
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        dbname=parsed.database,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


FILL_PG = """
INSERT INTO instances (workspace, env, node_key, workflow, run_type, run_key, cycle_time,
    bizdate, state, reason, attempts, max_attempts, priority, resource_group, owner,
    node_version, created_at)
SELECT 'bench', 'prod',
       'wf_' || (g % {nodes} % {workflows}) || '.node_' || (g % {nodes}),
       'wf_' || (g % {nodes} % {workflows}),
       'scheduled', 'schedule',
       timestamp '2020-01-02 02:00' + (g / {nodes}) * interval '1 day',
       to_char(timestamp '2020-01-01' + (g / {nodes}) * interval '1 day', 'YYYYMMDD'),
       (ARRAY{states})[g % 10 + 1],
       NULL, 1, 1, 0, 'default', 'owner_' || (g % 7), 1,
       timestamp '2020-01-02 02:00' + (g / {nodes}) * interval '1 day'
FROM generate_series(0, {last}) AS g
"""


def fill(db: object, count: int) -> float:
    """Insert ``count`` instances; returns the seconds it took."""
    import sqlalchemy as sa

    from lakeworks.store.database import Database

    assert isinstance(db, Database)
    started = time.perf_counter()
    if db.dialect_name == "postgresql":
        states = "[" + ",".join(f"'{s}'" for s in STATES) + "]"
        sql = FILL_PG.format(nodes=NODES, workflows=WORKFLOWS, states=states, last=count - 1)
        with db.write() as conn:
            conn.execute(sa.text(sql))
        with db.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("ANALYZE instances")
            )
    else:
        from datetime import datetime

        from lakeworks.store.models import InstanceState, NewInstance
        from lakeworks.store.repositories import InstanceRepository

        repo = InstanceRepository(db)
        base = datetime(2020, 1, 2, 2, 0)
        batch: list[NewInstance] = []
        for g in range(count):
            day = base + timedelta(days=g // NODES)
            batch.append(
                NewInstance(
                    workspace=WORKSPACE,
                    env="prod",
                    node_key=f"wf_{g % NODES % WORKFLOWS}.node_{g % NODES}",
                    workflow=f"wf_{g % NODES % WORKFLOWS}",
                    cycle_time=day,
                    bizdate=(day - timedelta(days=1)).strftime("%Y%m%d"),
                    state=InstanceState(STATES[g % 10]),
                )
            )
            if len(batch) == 5000:
                repo.create_many(batch)
                batch = []
        if batch:
            repo.create_many(batch)
    return time.perf_counter() - started


def prepare(url: str, home: Path) -> str:
    """Register the workspace, a viewer and their token; returns the token."""
    from lakeworks.security.credentials import TokenRepository
    from lakeworks.security.members import MemberRepository
    from lakeworks.security.passwords import CHEAP, Passwords
    from lakeworks.security.permissions import Role
    from lakeworks.security.users import UserRepository
    from lakeworks.security.workspaces import WorkspaceRepository
    from lakeworks.store.clock import utcnow
    from lakeworks.store.database import Database

    with Database.open(url) as db:
        WorkspaceRepository(db).register(WORKSPACE, home, actor="bench")
        user = UserRepository(db, Passwords(CHEAP)).create("bench-viewer", None)
        MemberRepository(db).set_roles(WORKSPACE, user.id, [Role.VIEWER], actor="bench")
        token, _ = TokenRepository(db).create(
            user.id, "bench", expires_at=utcnow() + timedelta(days=1)
        )
    return token


def instance_paths(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, path) of instance page requests: first pages, filters, deep pages."""
    from lakeworks.api.pagination import encode_cursor

    days = max(1, count // NODES)
    base = f"/api/workspaces/{WORKSPACE}/envs/prod/instances?limit=50"
    paths: list[tuple[str, str]] = []
    for _ in range(4000):
        kind = rng.choice(["first page", "state", "node", "bizdate", "deep page", "state+deep"])
        if kind == "first page":
            path = base
        elif kind == "state":
            path = f"{base}&state={rng.choice(['failed', 'running', 'waiting_upstream'])}"
        elif kind == "node":
            path = f"{base}&node=wf_{(n := rng.randrange(NODES)) % WORKFLOWS}.node_{n}"
        elif kind == "bizdate":
            day = rng.randrange(days)
            path = f"{base}&bizdate={(_epoch() + timedelta(days=day)).strftime('%Y%m%d')}"
        elif kind == "deep page":
            path = f"{base}&cursor={encode_cursor(rng.randrange(1, count))}"
        else:
            path = f"{base}&state=failed&cursor={encode_cursor(rng.randrange(1, count))}"
        paths.append((kind, path))
    return paths


def _epoch() -> date:
    return date(2020, 1, 1)


def load(
    base: str, token: str, requests: list[tuple[str, str]], concurrency: int
) -> tuple[dict[str, list[float]], float, int]:
    """Send the requests from ``concurrency`` threads; latencies (ms) by kind, wall
    seconds, and how many failed."""
    import httpx

    lock = threading.Lock()
    latencies: dict[str, list[float]] = {}
    failures = [0]
    queue = list(requests)

    def worker() -> None:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    kind, path = queue.pop()
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code != 200:
                        failures[0] += 1
                    latencies.setdefault(kind, []).append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, failures[0]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smoke size.")
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="Instance page requests.")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--postgres", default=PG_DEFAULT)
    args = parser.parse_args()
    count = args.instances or (5_000 if args.quick else 1_000_000)
    pages = args.requests or (60 if args.quick else 3000)
    node_reads = max(20, pages // 4)

    from sqlalchemy.engine import make_url

    from lakeworks.spec.init import init_workspace
    from lakeworks.store.database import Database

    parsed = make_url(args.postgres)
    use_pg = _port_open(parsed.host or "127.0.0.1", parsed.port or 5432)
    if not use_pg and not args.quick:
        print("PostgreSQL is not reachable; the full run needs it", file=sys.stderr)
        return
    work = Path(tempfile.mkdtemp(prefix="lakeworks-bench-"))
    schema = None
    server = None
    try:
        if use_pg:
            url, schema = _pg_schema(args.postgres)
        else:
            url = f"sqlite:///{work / 'meta.db'}"
        home = work / "ws"
        init_workspace(home, "sales")
        with Database.open(url) as db:
            fill_seconds = fill(db, count)
        token = prepare(url, home)
        port = _free_port()
        server_log = work / "server.log"
        server = subprocess.Popen(  # the server as a user starts it (no scheduler: the
            # filled instances are history, not work to plan)
            [LAKEWORKS, "up", "-w", str(home), "--port", str(port), "--no-scheduler"],
            env={
                **os.environ,
                "LAKEWORKS_DATABASE_URL": url,
                "LAKEWORKS_ADMIN_PASSWORD": "bench-admin-password",
            },
            stdout=server_log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_up(base, server, server_log)
        rng = random.Random(7)
        node = f"/api/workspaces/{WORKSPACE}/workflows/sales_pipeline/nodes/02_build_sales_daily"
        warm = instance_paths(count, rng)[:50] + [("node read", node)] * 10
        load(base, token, warm, args.concurrency)
        requests = instance_paths(count, rng)[:pages] + [("node read", node)] * node_reads
        rng.shuffle(requests)
        latencies, wall, failures = load(base, token, requests, args.concurrency)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if schema is not None:
            _drop_schema(args.postgres, schema)
        shutil.rmtree(work, ignore_errors=True)

    lists = [v for k, vs in latencies.items() if k != "node read" for v in vs]
    reads = latencies.get("node read", [])
    store = "PostgreSQL" if use_pg else "SQLite"
    print(
        f"{count:,} instances in {store} (filled in {fill_seconds:.1f} s); "
        f"{len(lists) + len(reads)} requests from {args.concurrency} threads in {wall:.1f} s; "
        f"{failures} failed; machine shared with other work"
    )
    print(f"{'requests':<22}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind in sorted(latencies):
        values = latencies[kind]
        print(
            f"{kind:<22}{len(values):>6}{pct(values, 0.5):>10.2f}{pct(values, 0.99):>10.2f}"
            f"{max(values):>10.2f}"
        )
    print(
        f"{'all instance pages':<22}{len(lists):>6}{pct(lists, 0.5):>10.2f}"
        f"{pct(lists, 0.99):>10.2f}{max(lists):>10.2f}"
    )
    rps = (len(lists) + len(reads)) / wall
    print(f"throughput: {rps:.0f} requests/s")
    print(f"RESULT instances_list_p99 {pct(lists, 0.99):.2f} ms (target < 50)")
    print(f"RESULT instances_list_p50 {pct(lists, 0.5):.2f} ms")
    print(f"RESULT node_read_p99 {pct(reads, 0.99):.2f} ms")
    print(f"RESULT api_requests_per_second {rps:.0f} req/s")


def _wait_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the API server process exited ({server.returncode}):\n{tail}")
        try:
            if httpx.get(f"{base}/api/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the API server did not start")


if __name__ == "__main__":
    main()
