"""Operations > Streams in Chromium against a real ``lakeworks up``: a PostgreSQL CDC
stream is started from the page, shows its rows, lag and watermark while the worker
runs it, is paused, resumed and stopped there. Screenshots go under the tmp folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect

from tests.e2e.console.conftest import ADMIN_PASSWORD, Console, serve, shot, sign_in
from tests.integration.streaming.pg_source import Source
from tests.services import require_chromium, server_env

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]
WORKSPACE = "stream-lab"
LAKEWORKS = str(Path(sys.executable).parent / "lakeworks")


@pytest.fixture
def source() -> Iterator[Source]:
    found = Source()
    try:
        yield found
    finally:
        found.drop()


@pytest.fixture
def stream_console(tmp_path: Path, source: Source) -> Iterator[Console]:
    chromium = require_chromium()
    source.sql("CREATE TABLE S.orders (id int PRIMARY KEY, amount numeric(10,2))")
    source.sql("INSERT INTO S.orders SELECT i, i * 1.25 FROM generate_series(1, 50) i")
    root = tmp_path / "ws"
    (root / "workflows" / "live").mkdir(parents=True)
    config = {
        "name": WORKSPACE,
        "data_sources": {"shop_db": {"type": "postgres", "database": "test", "user": "postgres"}},
    }
    (root / "lakeworks.yml").write_text(yaml.safe_dump(config))
    spec = {
        "source": {
            "type": "postgres_cdc",
            "data_source": "shop_db",
            "tables": [f"{source.schema}.orders"],
            "slot": source.slot,
        },
        "target": {"table": "ods_orders"},
        "flush": {"seconds": 0.5},
    }
    (root / "workflows" / "live" / "orders_cdc.stream.yml").write_text(yaml.safe_dump(spec))
    env = server_env(ADMIN_PASSWORD)
    deployed = subprocess.run(
        [LAKEWORKS, "deploy", str(root), "-w", str(root), "-m", "streams"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    with serve(root, env, tmp_path, chromium) as (base, log, browser):
        yield Console(base, root, tmp_path / "unused.flag", log, browser)


def test_start_watch_pause_and_stop_a_stream(
    stream_console: Console, source: Source, tmp_path: Path
) -> None:
    console = stream_console
    page = console.page()
    sign_in(page, console, path=f"/w/{WORKSPACE}/envs/prod/ops/streams")
    row = page.locator("tr[data-stream='live.orders_cdc']")
    expect(row).to_contain_text("never run in prod")
    expect(row).to_contain_text(f"PostgreSQL shop_db: {source.schema}.orders → ods_orders")
    shot(page, tmp_path, "1-never-run")

    row.locator("button:text('Start')").click()
    page.click("#confirm-ok")
    api = f"/api/workspaces/{WORKSPACE}/envs/prod/streams/live.orders_cdc"
    console.wait_for(api, lambda b: b["state"] == "running" and b["rows_out"] == 50, 180)
    source.sql("INSERT INTO S.orders VALUES (51, 9.99)")
    source.sql("DELETE FROM S.orders WHERE id = 1")
    console.wait_for(api, lambda b: b["rows_in"] == 2 and b["lag_bytes"] is not None, 120)
    page.reload()
    row = page.locator("tr[data-stream='live.orders_cdc']")
    expect(row.locator(".state")).to_have_text("running")
    expect(row).to_contain_text("WAL")
    expect(row.locator("td.num").nth(1)).to_have_text("51")  # 50 copied + 1 inserted
    shot(page, tmp_path, "2-running")

    # after each action the console reloads the page itself: a reload of the test's own
    # must not race it
    row.locator("button:text('Pause')").click()
    with page.expect_navigation():
        page.click("#confirm-ok")
    console.wait_for(api, lambda b: b["state"] == "paused", 60)
    page.reload()
    row = page.locator("tr[data-stream='live.orders_cdc']")
    expect(row.locator(".state").first).to_have_text("paused")
    with page.expect_navigation():
        row.locator("button:text('Resume')").click()
    console.wait_for(api, lambda b: b["state"] == "running", 60)

    page.reload()
    page.locator("tr[data-stream='live.orders_cdc'] button:text('Stop')").click()
    with page.expect_navigation():
        page.click("#confirm-ok")
    console.wait_for(api, lambda b: b["state"] == "stopped", 90)
    page.reload()
    row = page.locator("tr[data-stream='live.orders_cdc']")
    expect(row.locator(".state").first).to_have_text("stopped")
    expect(row.locator("button:text('Start')")).to_be_visible()
    shot(page, tmp_path, "3-stopped")
