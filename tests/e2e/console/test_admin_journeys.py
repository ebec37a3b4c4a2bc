"""Journeys of Data Integration, Administration and Monitoring in Chromium against the
real ``lakeworks up`` of ``conftest``: add a data source and test its connection (and a
broken one), rotate the secret key and see the password still decrypt and a sync still
run, and add, fix, change and delete alert channels and rules with errors shown at
their field. Screenshots go under the test's tmp folder."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.console.conftest import WORKSPACE, Console, sign_in
from tests.e2e.console.conftest import shot as full_shot
from tests.services import free_port, require_postgres

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

API = f"/api/workspaces/{WORKSPACE}"
PG = "host=127.0.0.1 user=postgres dbname=test"


@pytest.fixture
def pg_table() -> Iterator[str]:
    require_postgres()
    name = f"console_orders_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (id int, amount numeric(8,2))")  # type: ignore[arg-type]
        conn.execute(f"INSERT INTO {name} VALUES (1, 1.5), (2, 2.5), (3, 3.5)")  # type: ignore[arg-type]
    yield name
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")  # type: ignore[arg-type]


def shot(page: Page, folder: Path, name: str) -> None:
    """A full-page screenshot from the top (the frame's bar stays where it belongs)."""
    page.evaluate("window.scrollTo(0, 0)")
    full_shot(page, folder, name)


def _add_source(page: Page, name: str, password: str | None, settings: str) -> None:
    page.fill("#ds-name", name)
    page.select_option("#ds-type", "postgres")
    page.fill("#ds-password", password or "")
    page.fill("#ds-settings", settings)
    page.click("text=Save data source")
    expect(page.locator("#sources")).to_contain_text(name)


def _test_connection(page: Page, name: str) -> str:
    page.click(f"#test-{name}")
    result = page.locator(f'[data-probe-for="{name}"]')
    expect(result).not_to_have_text(re.compile(r"^(|connecting…)$"), timeout=30_000)
    return result.inner_text()


def test_test_connections_rotate_the_key_and_a_sync_still_runs(
    console: Console, tmp_path: Path, pg_table: str
) -> None:
    page = console.page()
    sign_in(page, console, path=f"/w/{WORKSPACE}/integration")
    _add_source(
        page, "shop_pg", "any-password-1", "host: 127.0.0.1\ndatabase: test\nuser: postgres"
    )
    closed = free_port()
    _add_source(page, "old_pg", None, f"host: 127.0.0.1\nport: {closed}\ndatabase: test")
    expect(page.locator("#sources")).to_contain_text("password: set")

    ok = _test_connection(page, "shop_pg")
    assert ok.startswith("Connected in ") and "PostgreSQL" in ok
    failed = _test_connection(page, "old_pg")
    assert failed.startswith("Failed after ") and "refused" in failed
    assert "Hint: nothing answers at that host and port" in failed
    shot(page, tmp_path, "1-connections-tested")

    flow = console.root / "workflows/ingest"
    flow.mkdir(parents=True, exist_ok=True)
    (flow / "ods_console_orders.sync.yml").write_text(
        f"source: {{data_source: shop_pg, table: {pg_table}}}\n"
        "target: {table: ods_console_orders, mode: overwrite}\n"
    )
    key_file = console.root / ".lakeworks/secret.key"
    key_before = key_file.read_bytes()

    page.goto(f"{console.base}/w/{WORKSPACE}/admin")
    expect(page.locator("#secret-key")).to_contain_text("secret.key")
    page.click("#rotate-key")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-body")).to_contain_text("re-encrypted with a new key")
    page.click("#confirm-ok")
    result = page.locator("#rotate-result")
    expect(result).to_contain_text("Rotated:", timeout=30_000)
    expect(result).to_contain_text("1 stored secret re-encrypted with the new key")
    shot(page, tmp_path, "2-key-rotated")
    assert key_file.read_bytes() != key_before

    page.goto(f"{console.base}/w/{WORKSPACE}/integration")
    after = _test_connection(page, "shop_pg")
    assert after.startswith("Connected in "), after
    shot(page, tmp_path, "3-connection-after-rotation")

    with console.api() as client:
        started = client.post(
            f"{API}/dev-runs",
            json={"bizdate": "20260411", "targets": ["ingest.ods_console_orders"]},
        )
        assert started.status_code == 202, started.text
        run = started.json()["id"]
    done = console.wait_for(
        f"{API}/envs/dev/runs/{run}", lambda b: b["state"] not in ("running", "pending")
    )
    assert done["state"] == "success", console.log.read_text()[-3000:]
    runs = console.wait_for(f"{API}/envs/dev/sync/runs", lambda b: b["items"])
    assert runs["items"][0]["rows_written"] == 3


def test_alert_channels_and_rules_are_edited_with_errors_at_their_field(
    console: Console, tmp_path: Path
) -> None:
    page = console.page()
    sign_in(page, console, path=f"/w/{WORKSPACE}/envs/prod/monitoring")
    channel = page.locator("#channel-form")
    channel.locator("#c-name").fill("ops_hook")
    channel.locator("#c-url").fill("ftp://hooks.example.com/abc")
    channel.locator("#c-secret").fill("sign-Secret-42")
    channel.locator("button[type=submit]").click()
    url_error = channel.locator('.field-error[data-for="url"]')
    expect(url_error).to_contain_text("must start with http:// or https://")
    expect(channel.locator("#c-url")).to_have_value("ftp://hooks.example.com/abc")
    shot(page, tmp_path, "1-channel-error-at-url")
    channel.locator("#c-url").fill("https://hooks.example.com/abc?token=secret-token-7")
    channel.locator("button[type=submit]").click()
    expect(page.locator("#channels")).to_contain_text("ops_hook")
    expect(page.locator("#channels")).to_contain_text("set (write-only)")
    assert "secret-token-7" not in page.content()

    rule = page.locator("#rule-form")
    rule.locator("#r-name").fill("publish_slow")
    rule.locator("#r-objects").fill("sales_pipeline.03_publish")
    rule.locator("#r-trigger").select_option("run_time_over")
    rule.locator("#r-minutes").fill("-5")
    rule.locator("#r-channels").fill("ops_hook")
    rule.locator("#r-max").fill("11")
    rule.locator("button[type=submit]").click()
    expect(rule.locator('.field-error[data-for="trigger.minutes"]')).to_contain_text(
        "greater than 0"
    )
    expect(rule.locator('.field-error[data-for="max_alerts"]')).to_contain_text(
        "less than or equal"
    )
    expect(rule.locator("#r-minutes")).to_have_value("-5")
    shot(page, tmp_path, "2-rule-errors-at-fields")
    rule.locator("#r-minutes").fill("45")
    rule.locator("#r-max").fill("2")
    rule.locator("button[type=submit]").click()
    row = page.locator("#rules tr", has_text="publish_slow")
    expect(row).to_contain_text("run_time_over 45")
    expect(row).to_contain_text("at most 2")

    row.locator("[data-edit-rule]").click()
    expect(page.locator("#r-minutes")).to_have_value("45")
    page.fill("#r-max", "4")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#rules tr", has_text="publish_slow")).to_contain_text("at most 4")
    shot(page, tmp_path, "3-rule-changed")

    page.locator("#channels tr", has_text="ops_hook").locator("text=Delete").click()
    page.click("#confirm-ok")
    expect(page.locator("#toast")).to_contain_text("used by the rule(s) publish_slow")
    page.locator("#rules tr", has_text="publish_slow").locator("text=Delete").click()
    page.click("#confirm-ok")
    expect(page.locator("#rules")).not_to_contain_text("publish_slow")
    page.locator("#channels tr", has_text="ops_hook").locator("text=Delete").click()
    page.click("#confirm-ok")
    expect(page.locator("#channels")).not_to_contain_text("ops_hook")
    shot(page, tmp_path, "4-rule-and-channel-deleted")
