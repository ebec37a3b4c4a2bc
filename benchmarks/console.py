"""Console pages: server time of the list pages over 1,000,000 instances, and a
1,000-node DAG laid out and drawn in Chromium.

A real ``lakeworks up`` (PostgreSQL metadata, filled with ``generate_series`` like the
API benchmark; SQLite and fewer instances with ``--quick`` or without PostgreSQL)
serves the console; one client signed in with the session cookie requests the
Operations Center list (first page, each filter, deep pages by cursor), the workspace
home and the day page, one request at a time, and records the server time of each
(``Server-Timing``) and the client's round trip. Chromium
(Debian's, driven by Playwright) then opens the day page of a business date with
1,000 instances and 1,200 dependency edges and reads when the DAG was on screen,
counted from the start of navigation (server layout, transfer and SVG drawing).

    .venv/bin/python benchmarks/console.py            # full size
    .venv/bin/python benchmarks/console.py --quick    # smoke size

Prints a table, then ``RESULT`` lines. Exits 0 when it ran.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import api_latency as store_fill  # noqa: E402  (the API benchmark's fill and helpers)

WORKSPACE = store_fill.WORKSPACE
PASSWORD = "bench-console-password"
DAG_NODES = 1000
DAG_DAY = "20300101"
CHROMIUM = "/usr/bin/chromium"


def add_dag(url: str) -> None:
    """1,000 scheduled instances of one business date with 1,200 dependency edges."""
    from lakeworks.store.database import Database
    from lakeworks.store.models import InstanceState, NewInstance
    from lakeworks.store.repositories import InstanceRepository

    cycle = datetime(2030, 1, 2, 2, 0)
    states = [InstanceState.SUCCESS] * 6 + [InstanceState.FAILED, InstanceState.RUNNING]
    with Database.open(url) as db:
        repo = InstanceRepository(db)
        created = repo.create_many(
            [
                NewInstance(
                    workspace=WORKSPACE,
                    env="prod",
                    node_key=f"dag_{n % 10}.node_{n:04d}",
                    workflow=f"dag_{n % 10}",
                    cycle_time=cycle,
                    bizdate=DAG_DAY,
                    state=states[n % len(states)],
                )
                for n in range(DAG_NODES)
            ]
        )
        ids = [i.id for i in created]
        edges = [(ids[n], ids[(n - 1) // 2]) for n in range(1, DAG_NODES)]
        edges += [(ids[n], ids[n - 7]) for n in range(7, DAG_NODES, 5)][: 1200 - len(edges)]
        repo.add_dependencies(edges)


def list_paths(count: int, rng: random.Random, requests: int) -> list[tuple[str, str]]:
    from lakeworks.api.pagination import encode_cursor

    days = max(1, count // store_fill.NODES)
    ops = f"/w/{WORKSPACE}/envs/prod/ops"
    day = (store_fill._epoch() + timedelta(days=rng.randrange(days))).strftime("%Y%m%d")
    kinds = {
        "ops first page": lambda: ops,
        "ops state": lambda: f"{ops}?state={rng.choice(['failed', 'running', 'waiting_upstream'])}",
        "ops node": lambda: f"{ops}?node=wf_{(n := rng.randrange(500)) % 20}.node_{n}",
        "ops workflow": lambda: f"{ops}?workflow=wf_{rng.randrange(20)}",
        "ops owner": lambda: f"{ops}?owner=owner_{rng.randrange(7)}&state=failed",
        "ops business date": lambda: (
            f"{ops}?bizdate="
            f"{(store_fill._epoch() + timedelta(days=rng.randrange(days))).strftime('%Y%m%d')}"
        ),
        "ops run type": lambda: f"{ops}?run_type=scheduled&state=success",
        "ops deep page": lambda: f"{ops}?cursor={encode_cursor(rng.randrange(1, count))}",
        "api list (reference)": lambda: f"/api/workspaces/{WORKSPACE}/envs/prod/instances",
        "workspace home": lambda: f"/w/{WORKSPACE}",
        "day page": lambda: f"{ops}/day?bizdate={day}",
    }
    names = list(kinds)
    return [(name, kinds[name]()) for name in (names * (requests // len(names) + 1))[:requests]]


def measure(
    base: str, paths: list[tuple[str, str]], round_trips: dict[str, list[float]]
) -> tuple[dict[str, list[float]], int]:
    """Server time (the ``Server-Timing`` header) of each page by kind; the client's
    round trips go to ``round_trips``."""
    import httpx

    latencies: dict[str, list[float]] = {}
    failures = 0
    with httpx.Client(base_url=base, timeout=60) as client:
        login = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
        login.raise_for_status()
        for _kind, path in paths[:20]:  # warm-up
            client.get(path)
        for kind, path in paths:
            started = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                failures += 1
            timing = response.headers.get("server-timing", "")
            server = float(timing.split("dur=")[1]) if "dur=" in timing else elapsed
            latencies.setdefault(kind, []).append(server)
            round_trips.setdefault(kind, []).append(elapsed)
    return latencies, failures


def draw_dag(base: str) -> dict[str, float]:
    """Open the 1,000-node day page in Chromium; layout, drawing and load times (ms)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(f"{base}/login")
        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        results: list[dict[str, float]] = []
        for _ in range(3):
            page.goto(f"{base}/w/{WORKSPACE}/envs/prod/ops/day?bizdate={DAG_DAY}")
            page.wait_for_selector("#day-dag[data-drawn-at]", timeout=60_000)
            data = page.eval_on_selector("#day-dag", "el => ({...el.dataset})")
            assert int(data["nodes"]) == DAG_NODES, data
            results.append({"draw": float(data["drawMs"]), "page": float(data["drawnAt"])})
        browser.close()
    return {key: sorted(r[key] for r in results)[1] for key in results[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smoke size.")
    parser.add_argument("--instances", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--postgres", default=store_fill.PG_DEFAULT)
    args = parser.parse_args()
    count = args.instances or (5_000 if args.quick else 1_000_000)
    requests = args.requests or (60 if args.quick else 1000)

    from sqlalchemy.engine import make_url

    from lakeworks.spec.init import init_workspace
    from lakeworks.store.database import Database

    parsed = make_url(args.postgres)
    use_pg = store_fill._port_open(parsed.host or "127.0.0.1", parsed.port or 5432)
    if not use_pg and not args.quick:
        print("PostgreSQL is not reachable; the full run needs it", file=sys.stderr)
        return
    work = Path(tempfile.mkdtemp(prefix="lakeworks-console-bench-"))
    schema = None
    server = None
    log = work / "server.log"
    try:
        url, schema = (
            store_fill._pg_schema(args.postgres)
            if use_pg
            else (f"sqlite:///{work / 'ws/.lakeworks/meta.db'}", None)
        )
        home = work / "ws"
        init_workspace(home, "sales")
        config = home / "lakeworks.yml"
        config.write_text(config.read_text().replace("name: sales-lab", f"name: {WORKSPACE}"))
        (home / ".lakeworks").mkdir(exist_ok=True)
        with Database.open(url) as db:
            fill_seconds = store_fill.fill(db, count)
        add_dag(url)
        port = store_fill._free_port()
        env = {k: v for k, v in os.environ.items() if k != "LAKEWORKS_SECRET_KEY"}
        env.update(LAKEWORKS_DATABASE_URL=url, LAKEWORKS_ADMIN_PASSWORD=PASSWORD)
        lakeworks = str(Path(sys.executable).parent / "lakeworks")
        with log.open("wb") as sink:
            # no scheduler: the filled instances belong to no deployed definition
            server = subprocess.Popen(
                [lakeworks, "up", "-w", str(home), "--port", str(port), "--no-scheduler"],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
            )
        base = f"http://127.0.0.1:{port}"
        _wait_up(base, server, log)
        round_trips: dict[str, list[float]] = {}
        latencies, failures = measure(
            base, list_paths(count, random.Random(7), requests), round_trips
        )
        dag = draw_dag(base)
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        if schema is not None:
            store_fill._drop_schema(args.postgres, schema)
        shutil.rmtree(work, ignore_errors=True)

    pct = store_fill.pct
    every = [v for kind, values in latencies.items() if kind.startswith("ops") for v in values]
    days = latencies["workspace home"] + latencies["day page"]
    store = "PostgreSQL" if use_pg else "SQLite"
    total = sum(len(values) for values in latencies.values())
    print(
        f"{count:,} instances in {store} (filled in {fill_seconds:.1f} s); {total} page "
        f"requests one at a time; {failures} failed; machine shared with other work"
    )
    print("server time (Server-Timing) and the client's round trip, in ms:")
    print(
        f"{'console page':<22}{'n':>6}{'p50':>9}{'p95':>9}{'max':>9}"
        f"{'trip p50':>10}{'trip p95':>10}"
    )
    for kind, values in latencies.items():
        trips = round_trips[kind]
        print(
            f"{kind:<22}{len(values):>6}{pct(values, 0.5):>9.2f}{pct(values, 0.95):>9.2f}"
            f"{max(values):>9.2f}{pct(trips, 0.5):>10.2f}{pct(trips, 0.95):>10.2f}"
        )
    worst = max(latencies, key=lambda k: pct(latencies[k], 0.95))
    print(
        f"{'all instance lists':<22}{len(every):>6}{pct(every, 0.5):>9.2f}{pct(every, 0.95):>9.2f}"
    )
    print(
        f"DAG of {DAG_NODES} instances: laid out on the server, SVG drawn in {dag['draw']:.0f} ms, "
        f"on screen {dag['page']:.0f} ms after navigation started (median of 3)"
    )
    print(f"RESULT console_list_p95 {pct(every, 0.95):.2f} ms (target < 100)")
    print(f"RESULT console_day_pages_p95 {pct(days, 0.95):.2f} ms")
    print(f"RESULT console_list_worst_page_p95 {pct(latencies[worst], 0.95):.2f} ms ({worst})")
    print(f"RESULT console_dag_1000_laid_out_and_drawn {dag['page']:.0f} ms (target < 2000)")
    print(f"RESULT console_dag_1000_svg_draw {dag['draw']:.0f} ms")


def _wait_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"lakeworks up exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("lakeworks up did not start")


if __name__ == "__main__":
    main()
