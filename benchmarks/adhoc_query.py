"""Ad-hoc query latency with grants and masking: a viewer's queries and previews of a
masked table (and of a view over it) through a real ``lakeworks up``, next to the same
queries on a table without masking rules.

Every query is parsed, its table references placed scope by scope, views inlined and
masked tables replaced by masking projections before DuckDB runs it; this measures what
that costs a person at the API. The server runs with its default settings (scheduler,
worker, audit log, 30 s query deadline, 10,000-row cap).

    .venv/bin/python benchmarks/adhoc_query.py            # full size
    .venv/bin/python benchmarks/adhoc_query.py --quick    # smoke size

Prints a table, then ``RESULT`` lines. Exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WORKSPACE = "sales-lab"
ADMIN_PASSWORD = "bench-admin-password"
VIEWER_PASSWORD = "bench-viewer-password"
DEV = f"/api/workspaces/{WORKSPACE}/envs/dev"

QUERIES = {
    "masked rows": "SELECT * FROM people WHERE id % 97 = 3 ORDER BY id LIMIT 100",
    "masked aggregate": "SELECT city, count(*), max(phone) FROM people GROUP BY city",
    "masked view": "SELECT * FROM people_v WHERE id < 200 ORDER BY id",
    "plain rows": "SELECT * FROM plain WHERE id % 97 = 3 ORDER BY id LIMIT 100",
    "plain aggregate": "SELECT city, count(*), max(phone) FROM plain GROUP BY city",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lakeworks() -> str:
    return str(Path(sys.executable).parent / "lakeworks")


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 300:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    body = response.json()
    return body if isinstance(body, dict) else {}


def _wait_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("lakeworks up exited")
        try:
            if httpx.get(f"{base}/api/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("lakeworks up did not answer")


def _token(base: str, username: str, password: str) -> dict[str, str]:
    with httpx.Client(base_url=base, timeout=60) as client:
        login = _ok(
            client.post("/api/auth/login", json={"username": username, "password": password})
        )
        csrf = {"X-CSRF-Token": str(login["csrf_token"])}
        made = _ok(client.post("/api/auth/tokens", json={"name": "bench"}, headers=csrf))
    return {"Authorization": f"Bearer {made['token']}"}


def _setup(client: httpx.Client, admin: dict[str, str], rows: int) -> dict[str, str]:
    """Tables, a view, masking rules, and a viewer granted them; the viewer's headers."""
    people = f"""
    CREATE TABLE people AS
    WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < 999),
    ids AS (SELECT a.i * 1000 + b.i + 1 AS id FROM r a, r b WHERE a.i * 1000 + b.i < {rows})
    SELECT id, 'name' || id AS name, CAST(13800000000 + id AS VARCHAR) AS phone,
           'user' || id || '@example.com' AS email, ['east', 'west', 'north'][id % 3 + 1] AS city
    FROM ids
    """
    for sql in (
        people,
        "CREATE TABLE plain AS SELECT * FROM people",
        "CREATE VIEW people_v AS SELECT id, phone, email FROM people",
    ):
        body = {"sql": sql, "dialect": "duckdb"}
        _ok(client.post(f"{DEV}/query", json=body, headers=admin, timeout=600))
    space = f"/api/workspaces/{WORKSPACE}"
    for table in ("people*", "plain"):
        grant = {"subject": "role:viewer", "table": table, "privilege": "read", "env": "dev"}
        _ok(client.post(f"{space}/grants", json=grant, headers=admin))
    for column, method in (("phone", "phone"), ("email", "email")):
        rule = {"table": "people", "column": column, "method": method}
        _ok(client.post(f"{space}/masking-rules", json=rule, headers=admin))
    user = {"username": "bench-viewer", "password": VIEWER_PASSWORD}
    _ok(client.post("/api/users", json=user, headers=admin))
    roles = {"roles": ["viewer"]}
    _ok(client.put(f"{space}/members/bench-viewer", json=roles, headers=admin))
    return _token(str(client.base_url), "bench-viewer", VIEWER_PASSWORD)


def _measure(
    client: httpx.Client, viewer: dict[str, str], repeats: int
) -> tuple[dict[str, list[float]], int]:
    latencies: dict[str, list[float]] = {kind: [] for kind in [*QUERIES, "masked preview"]}
    failures = 0
    for _ in range(repeats):
        for kind, sql in QUERIES.items():
            started = time.perf_counter()
            response = client.post(
                f"{DEV}/query", json={"sql": sql, "dialect": "duckdb"}, headers=viewer
            )
            latencies[kind].append((time.perf_counter() - started) * 1000)
            failures += response.status_code != 200
            if kind.startswith("masked") and "13800000" in response.text:
                raise SystemExit(f"unmasked values in {kind}: {response.text[:200]}")
        started = time.perf_counter()
        response = client.get(f"{DEV}/tables/people/preview?limit=50", headers=viewer)
        latencies["masked preview"].append((time.perf_counter() - started) * 1000)
        failures += response.status_code != 200
    return latencies, failures


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smoke size.")
    parser.add_argument("--rows", type=int, default=None, help="Rows in the masked table.")
    parser.add_argument("--repeats", type=int, default=None, help="Rounds of every query.")
    args = parser.parse_args()
    rows = args.rows or (2_000 if args.quick else 500_000)
    repeats = args.repeats or (5 if args.quick else 60)

    from lakeworks.spec.init import init_workspace

    work = Path(tempfile.mkdtemp(prefix="lakeworks-bench-"))
    server = None
    try:
        home = work / "ws"
        init_workspace(home, "sales")
        port = _free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("LAKEWORKS_DATABASE_URL", "LAKEWORKS_SECRET_KEY")
        }
        env["LAKEWORKS_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        log = (work / "server.log").open("wb")
        server = subprocess.Popen(
            [_lakeworks(), "up", "-w", str(home), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        _wait_up(base, server)
        admin = _token(base, "admin", ADMIN_PASSWORD)
        with httpx.Client(base_url=base, timeout=120) as client:
            started = time.perf_counter()
            viewer = _setup(client, admin, rows)
            setup_seconds = time.perf_counter() - started
            _measure(client, viewer, 1)  # warm up
            latencies, failures = _measure(client, viewer, repeats)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"{rows:,} rows per table (set up in {setup_seconds:.1f} s); {repeats} rounds; "
        f"{failures} failed; one client; machine shared with other work"
    )
    print(f"{'requests':<20}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind, values in latencies.items():
        print(
            f"{kind:<20}{len(values):>6}{pct(values, 0.5):>10.2f}{pct(values, 0.99):>10.2f}"
            f"{max(values):>10.2f}"
        )
    masked = latencies["masked rows"]
    plain = latencies["plain rows"]
    overhead = pct(masked, 0.5) - pct(plain, 0.5)
    print(f"RESULT adhoc_masked_query_p99 {pct(masked, 0.99):.2f} ms (target < 250)")
    print(f"RESULT adhoc_masked_query_p50 {pct(masked, 0.5):.2f} ms")
    print(f"RESULT adhoc_masking_overhead_p50 {overhead:.2f} ms (target < 50)")
    print(f"RESULT preview_masked_p50 {pct(latencies['masked preview'], 0.5):.2f} ms")
    print(f"RESULT adhoc_failed_requests {failures} requests (target = 0)")


if __name__ == "__main__":
    main()
