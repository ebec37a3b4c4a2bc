"""DataService Studio: requests/s and latency of a published API beside a minimal handler.

A PostgreSQL table of 1,000,000 rows (``--quick``: 20,000) with an index on the lookup
key is published as a data API (script mode, bound key, 20-row pages) in a fresh
workspace set up with ``lakeworks api`` and served by ``lakeworks up`` with its default
configuration (embedded SQLite metadata, scheduler and worker running, every call
authenticated with a bearer token and logged). Beside it, in the same run, the limit:
the same query through a minimal Starlette route on uvicorn with a psycopg pool (no
auth, no logging). A keep-alive load generator (its own process) runs N concurrent
clients against each for the same time; then against a cached copy of the API.

    .venv/bin/python benchmarks/dataservice.py            # full size
    .venv/bin/python benchmarks/dataservice.py --quick    # smoke size

Prints a table, then ``RESULT`` lines. Exits 0 when it ran (also when PostgreSQL is not
reachable: then it says so and measures nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_URL = os.environ.get(
    "LAKEWORKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROWS_PER_KEY = 50

API = """
description: Items of one group, 20 per page
backend: bench_db
sql: |
  SELECT id, name, grp, amount FROM items
  WHERE grp = ${{grp}}
  ORDER BY id
parameters:
  - {{name: grp, type: integer, required: true, minimum: 0}}
page_size: 20
cache_ttl_seconds: {ttl}
"""

MINIMAL = """
import contextlib
import os

from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

pool = AsyncConnectionPool(os.environ["BENCH_DSN"], min_size=4, max_size=8, open=False)
SQL = "SELECT id, name, grp, amount FROM items WHERE grp = %s ORDER BY id LIMIT 20"


async def items(request):
    grp = int(request.query_params["grp"])
    async with pool.connection() as conn:
        cursor = await conn.execute(SQL, (grp,))
        rows = await cursor.fetchall()
    return JSONResponse(
        {"rows": [{"id": r[0], "name": r[1], "grp": r[2], "amount": r[3]} for r in rows]}
    )


@contextlib.asynccontextmanager
async def lifespan(app):
    await pool.open()
    yield
    await pool.close()


app = Starlette(routes=[Route("/items", items)], lifespan=lifespan)
"""

LOAD = r"""
import asyncio, json, random, sys, time

host, port, path, token, clients, seconds, keys, seed = sys.argv[1:9]
port, clients, seconds, keys = int(port), int(clients), float(seconds), int(keys)
random.seed(int(seed))
latencies, errors = [], 0


async def client():
    global errors
    reader, writer = await asyncio.open_connection(host, port)
    auth = f"Authorization: Bearer {token}\r\n" if token != "-" else ""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        key = random.randrange(keys)
        request = f"GET {path}?grp={key} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n"
        started = time.perf_counter()
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 200"):
            errors += 1
    writer.close()


async def main():
    await asyncio.gather(*(client() for _ in range(clients)))


started = time.perf_counter()
asyncio.run(main())
elapsed = time.perf_counter() - started
print(json.dumps({"latencies": latencies, "errors": errors, "seconds": elapsed}))
"""


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


def _pg() -> dict[str, object]:
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "dbname": url.database or "test",
    }


def _fill(schema: str, rows: int) -> None:
    import psycopg

    with psycopg.connect(**_pg(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(
            f'CREATE TABLE "{schema}".items (id bigint PRIMARY KEY, name text, grp int,'
            " amount double precision)"
        )
        conn.execute(
            f"INSERT INTO \"{schema}\".items SELECT g, 'item-' || g, g / {ROWS_PER_KEY},"
            f" (g % 1000) / 10.0 FROM generate_series(0, {rows - 1}) g"
        )
        conn.execute(f'CREATE INDEX ON "{schema}".items (grp, id)')
        conn.execute(f'ANALYZE "{schema}".items')


def _drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(**_pg(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _workspace(base: Path, schema: str, env: dict[str, str]) -> tuple[Path, str]:
    import yaml

    root = base / "ws"
    subprocess.run(
        [str(BIN / "lakeworks"), "init", str(root)], env=env, check=True, capture_output=True
    )
    config = yaml.safe_load((root / "lakeworks.yml").read_text())
    pg = _pg()
    config["data_sources"] = {
        "bench_db": {
            "type": "postgres",
            "host": pg["host"],
            "port": pg["port"],
            "database": pg["dbname"],
            "user": pg["user"],
            "schema": schema,
        }
    }
    (root / "lakeworks.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    folder = root / "dataservice" / "bench"
    folder.mkdir(parents=True)
    (folder / "items.api.yml").write_text(API.format(ttl=0))
    (folder / "items_cached.api.yml").write_text(API.format(ttl=300))

    def cli(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "lakeworks"), "api", *args, "-w", str(root)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"lakeworks api {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    cli("publish", "bench/items")
    cli("publish", "bench/items_cached")
    created = cli("apps", "create", "bench")
    token = next(line.split()[1] for line in created.splitlines() if line.startswith("token:"))
    cli("apps", "grant", "bench", "bench/items")
    cli("apps", "grant", "bench", "bench/items_cached")
    return root, token


def _wait(port: int, path: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit(f"server did not answer:\n{log.read_text()}")


def _load(
    base: Path, port: int, path: str, token: str, clients: int, seconds: float, keys: int
) -> dict[str, float]:
    script = base / "load.py"
    script.write_text(LOAD)
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "127.0.0.1",
            str(port),
            path,
            token,
            str(clients),
            str(seconds),
            str(keys),
            "7",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(done.stdout)
    latencies = sorted(data["latencies"])
    count = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(count - 1, int(q * count))] * 1000 if count else float("nan")

    return {
        "requests": count,
        "errors": data["errors"],
        "rps": count / data["seconds"],
        "p50": pct(0.50),
        "p99": pct(0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke size")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    pg = _pg()
    if not _port_open(str(pg["host"]), int(pg["port"])):  # type: ignore[call-overload]
        print("PostgreSQL is not reachable: nothing measured")
        return 0
    rows = 20_000 if args.quick else 1_000_000
    seconds = args.seconds or (2.0 if args.quick else 15.0)
    keys = rows // ROWS_PER_KEY
    schema = f"lw_bench_ds_{uuid.uuid4().hex[:10]}"
    base = Path(tempfile.mkdtemp(prefix="lw-bench-ds-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LAKEWORKS_DATABASE_URL", "LAKEWORKS_SECRET_KEY")
    }
    env["LAKEWORKS_ADMIN_PASSWORD"] = "bench-admin-password"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        _fill(schema, rows)
        print(f"filled {rows:,} rows in {time.perf_counter() - started:.1f} s")
        root, token = _workspace(base, schema, env)
        ours, minimal = _free_port(), _free_port()
        logs = [base / "lakeworks.log", base / "minimal.log"]
        with logs[0].open("wb") as sink:
            processes.append(
                subprocess.Popen(
                    [str(BIN / "lakeworks"), "up", "-w", str(root), "--port", str(ours)],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        (base / "minimal.py").write_text(textwrap.dedent(MINIMAL))
        dsn = " ".join(f"{k}={v}" for k, v in pg.items()) + f" options=-csearch_path={schema}"
        with logs[1].open("wb") as sink:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "minimal:app", "--port", str(minimal)],
                    cwd=base,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env={**env, "BENCH_DSN": dsn},
                )
            )
        _wait(ours, "/dataservice/openapi.json", processes[0], logs[0])
        _wait(minimal, "/items?grp=0", processes[1], logs[1])
        runs: dict[str, dict[str, float]] = {}
        plan = [
            ("minimal", minimal, "/items", "-", keys),
            ("dataservice", ours, "/dataservice/bench/items", token, keys),
            ("dataservice_cached", ours, "/dataservice/bench/items_cached", token, 100),
        ]
        for name, port, path, auth, distinct in plan:
            _load(base, port, path, auth, args.clients, min(1.0, seconds), distinct)  # warm up
            runs[name] = _load(base, port, path, auth, args.clients, seconds, distinct)
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        _drop(schema)
        shutil.rmtree(base, ignore_errors=True)

    print(f"\n{rows:,} rows, {args.clients} concurrent clients, {seconds:.0f} s per run")
    print(f"{'server':<22} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in runs.items():
        print(
            f"{name:<22} {r['requests']:>9.0f} {r['errors']:>7.0f} {r['rps']:>9.0f}"
            f" {r['p50']:>8.2f} {r['p99']:>8.2f}"
        )
    ratio = runs["dataservice"]["rps"] / runs["minimal"]["rps"]
    print(f"RESULT dataservice_vs_minimal {ratio:.2f} ratio (target >= 0.7)")
    print(f"RESULT dataservice_cached_rps {runs['dataservice_cached']['rps']:.0f} req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
