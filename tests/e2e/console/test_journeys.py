"""The console's four journeys in Chromium against a real ``lakeworks up``.

Each journey saves screenshots of the pages it passes under its own tmp folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.console.conftest import WORKSPACE, Console, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NODE = f"/w/{WORKSPACE}/studio/sales_pipeline/02_build_sales_daily"
OPS = f"/w/{WORKSPACE}/envs/prod/ops"
API = f"/api/workspaces/{WORKSPACE}"
BAD = " ORDER ("


def _failed_publish(console: Console) -> dict[str, Any]:
    body = console.wait_for(
        f"{API}/envs/prod/instances?state=failed&node=sales_pipeline.03_publish",
        lambda b: b["items"],
    )
    items: list[dict[str, Any]] = body["items"]  # type: ignore[assignment]
    return items[0]


def _confirm(page: Page) -> None:
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-ok")


def test_develop_run_and_deploy_a_sql_node(console: Console, tmp_path: Path) -> None:
    page = console.page()
    sign_in(page, console, path=NODE)
    expect(page.locator("h1")).to_contain_text("sales_pipeline.02_build_sales_daily")
    shot(page, tmp_path, "1-node-editor")

    last = page.locator(".cm-line").nth(18)
    expect(last).to_contain_text("GROUP BY")
    last.click()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")  # before the closing ';'
    page.keyboard.type(BAD)
    page.click("#save")
    expect(page.locator("#problems li").first).to_contain_text("line 19")
    expect(page.locator(".cm-lintRange-error").first).to_be_visible()
    expect(page.locator(".cm-line").nth(18)).to_contain_text(BAD.strip())  # nothing lost
    shot(page, tmp_path, "2-syntax-error-at-its-line")

    page.locator(".cm-line").nth(18).click()
    page.keyboard.press("End")
    page.keyboard.press("ArrowLeft")
    for _ in BAD + ")":  # the editor closed the bracket as it was typed
        page.keyboard.press("Backspace")
    expect(page.locator(".cm-line").nth(18)).to_have_text(
        "GROUP BY SUBSTR(CAST(order_ts AS STRING), 1, 10);"
    )
    page.keyboard.press("End")
    page.keyboard.type(" -- one row per day")
    page.click("#save")
    expect(page.locator("#status")).to_have_text("saved")
    expect(page.locator("#problems li")).to_have_count(0)

    page.fill("#s-retries", "abc")
    page.locator("#s-retries").dispatch_event("change")
    expect(page.locator(".cm-content")).to_contain_text('-- retries: "abc"')
    page.click("#save")
    expect(page.locator(".field-error[data-for='retries']")).to_contain_text("valid integer")
    expect(page.locator("#s-retries")).to_have_value("abc")
    shot(page, tmp_path, "3-settings-error-beside-the-field")
    page.fill("#s-retries", "1")
    page.locator("#s-retries").dispatch_event("change")
    page.click("#save")
    expect(page.locator("#status")).to_have_text("saved")
    expect(page.locator(".cm-content")).to_contain_text("-- retries: 1")

    page.fill("#bizdate", "20260411")
    page.click("#run-dev")
    expect(page.locator("#run-state")).to_contain_text("success", timeout=60_000)
    expect(page.locator("#run-log")).to_contain_text("running sales_pipeline.02_build_sales_daily")
    shot(page, tmp_path, "4-dev-run-log")

    page.goto(console.base + f"/w/{WORKSPACE}/studio-deployments")
    page.fill("#description", "sales_daily: comment the grouping")
    page.click("#new-deployment button[type=submit]")
    page.wait_for_url("**/studio-deployments/*")
    expect(page.locator(".diff")).to_contain_text("one row per day")
    expect(page.locator(".diff .add")).to_have_text(
        ["+-- retries: 1", "+GROUP BY SUBSTR(CAST(order_ts AS STRING), 1, 10); -- one row per day"]
    )  # the header's other lines are kept as they were written
    shot(page, tmp_path, "5-deployment-diff")
    page.click("button:has-text('Apply to prod')")
    _confirm(page)
    expect(page.locator("h1")).to_contain_text("applied", timeout=30_000)
    shot(page, tmp_path, "6-deployment-applied")

    page.goto(console.base + OPS)
    expect(page.locator("#instances tbody tr").first).to_contain_text("sales_pipeline")
    shot(page, tmp_path, "7-prod-instances")


def test_repair_a_failed_instance_and_backfill(console: Console, tmp_path: Path) -> None:
    failed = _failed_publish(console)
    page = console.page()
    sign_in(page, console, path=OPS)
    page.select_option("#f-state", "failed")
    page.click("#filters button[type=submit]")
    row = page.locator(f"#instances tr[data-id='{failed['id']}']")
    expect(row).to_contain_text("sales_pipeline.03_publish")
    shot(page, tmp_path, "1-failed-instances")

    row.locator("a").first.click()
    expect(page.locator("#log")).to_contain_text("the export share is not mounted")
    expect(page.locator("#downstream-list")).to_have_count(1)
    shot(page, tmp_path, "2-instance-log")

    console.flag.unlink()
    page.click("button[data-one='rerun_downstream']")
    expect(page.locator("#confirm-body")).to_contain_text("sales_pipeline.04_notify")
    shot(page, tmp_path, "3-rerun-confirmation")
    with page.expect_navigation():  # the console reloads the page once the action is done
        _confirm(page)
    console.wait_for(f"{API}/envs/prod/instances/{failed['id']}", lambda b: b["state"] == "success")
    page.reload()
    expect(page.locator("h1")).to_contain_text("success")
    expect(page.locator("#log")).to_contain_text("published")
    shot(page, tmp_path, "4-rerun-succeeded")

    page.goto(console.base + OPS + "/backfill")
    page.fill("#b-node", "sales_pipeline.02_build_sales_daily")
    page.select_option("#b-scope", "downstream")
    page.fill("#b-dates", "2026-04-01..2026-04-03\n2026-04-10")
    page.fill("#b-parallel", "two")
    page.click("#preview")
    expect(page.locator(".field-error[data-for='parallel']")).to_contain_text("whole number")
    expect(page.locator("#b-parallel")).to_have_value("two")
    page.fill("#b-parallel", "2")
    page.click("#preview")
    expect(page.locator("#preview-count")).to_contain_text("12 instance(s) of 3 node(s)")
    shot(page, tmp_path, "5-backfill-preview")
    page.click("#start")
    _confirm(page)
    page.wait_for_url("**/ops?run_type=backfill")
    expect(page.locator("#instances tbody tr")).to_have_count(12)
    shot(page, tmp_path, "6-backfill-started")


def test_find_a_table_and_follow_its_column_lineage(console: Console, tmp_path: Path) -> None:
    console.wait_for(
        f"{API}/envs/prod/instances?state=success&node=sales_pipeline.02_build_sales_daily",
        lambda b: b["items"],
    )
    page = console.page()
    sign_in(page, console, path=f"/w/{WORKSPACE}/envs/prod/map")
    page.click("button:has-text('Build the map')")
    _confirm(page)
    expect(page.locator("main table.list")).to_contain_text("sales_daily", timeout=30_000)

    page.fill("header form.search input", "sales daily")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=*")
    shot(page, tmp_path, "1-search")
    page.click("main a:text-is('sales_daily')")
    expect(page.locator("h1")).to_contain_text("sales_daily")
    expect(page.locator("#columns")).to_contain_text("revenue_total")
    page.click("#load-preview")
    expect(page.locator("#preview table")).to_be_visible()
    shot(page, tmp_path, "2-table-page")

    page.locator("#columns tr", has_text="revenue_total").locator("a").click()
    expect(page.locator("h1")).to_contain_text("sales_daily.revenue_total")
    node = page.locator(".dag-node", has_text="sales_raw.amount")
    expect(node).to_be_visible()
    shot(page, tmp_path, "3-column-lineage")
    node.click()
    expect(page.locator("h1")).to_contain_text("sales_raw.amount")
    expect(page.locator("#impact-tables")).to_contain_text("sales_daily")
    expect(page.locator("#owners")).to_contain_text("data-eng")
    expect(page.locator("main")).to_contain_text("sales_daily_revenue_positive")
    shot(page, tmp_path, "4-impact-analysis")


def test_a_viewer_sees_no_controls_and_a_forged_post_is_refused(
    console: Console, tmp_path: Path
) -> None:
    failed_or_done = console.wait_for(
        f"{API}/envs/prod/instances?node=sales_pipeline.01_create_and_load_sales_raw",
        lambda b: b["items"],
    )
    instance_id = failed_or_done["items"][0]["id"]  # type: ignore[index]
    with console.api() as admin:
        created = admin.post("/api/users", json={"username": "vera", "password": "viewer-pass-1"})
        assert created.status_code in (201, 409), created.text
        roles = admin.put(f"{API}/members/vera", json={"roles": ["viewer"]})
        assert roles.status_code == 200, roles.text

    page = console.page()
    sign_in(page, console, "vera", "viewer-pass-1", path=NODE)
    expect(page.locator("header .roles").first).to_have_text("viewer")
    expect(page.locator("#save")).to_have_count(0)
    expect(page.locator("#run-dev")).to_have_count(0)
    expect(page.locator(".cm-content[contenteditable='false']")).to_have_count(1)
    expect(page.locator("nav.side")).not_to_contain_text("Administration x")
    shot(page, tmp_path, "1-viewer-node")

    page.goto(console.base + f"{OPS}/instances/{instance_id}")
    expect(page.locator("#instance-actions")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Your roles do not include reading logs")
    page.goto(console.base + OPS)
    expect(page.locator("#bulk")).to_have_count(0)
    page.goto(console.base + f"/w/{WORKSPACE}/studio-deployments")
    expect(page.locator("#new-deployment")).to_have_count(0)
    shot(page, tmp_path, "2-viewer-deployments")

    status = page.evaluate(
        """async ([path, ids]) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(path, {method: "POST", credentials: "same-origin",
              headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
              body: JSON.stringify({ids})});
            return r.status;
        }""",
        [f"{API}/envs/prod/instances/actions/rerun", [instance_id]],
    )
    assert status == 403
    with console.api() as admin:
        entries = admin.get(f"{API}/audit", params={"actor": "vera"}).json()["items"]
    refused = [e for e in entries if e["status"] == 403 and "actions/rerun" in e["target"]]
    assert refused and refused[0]["outcome"] == "denied"

    page.goto(console.base + f"/w/{WORKSPACE}/admin/audit")
    expect(page.locator("h1")).to_contain_text("Not allowed")
    shot(page, tmp_path, "3-viewer-refused-page")


def test_an_expired_session_returns_to_the_wanted_page(console: Console, tmp_path: Path) -> None:
    page = console.page()
    sign_in(page, console, path=OPS)
    page.context.clear_cookies()
    wanted = f"{OPS}?state=success&bizdate=20260411"
    page.goto(console.base + wanted)
    page.wait_for_url("**/login?next=*")
    page.click("button[type=submit]")
    expect(page.locator(".field-error[data-for='username']")).to_have_text("required")
    page.fill("#username", "admin")
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".form-error")).to_contain_text("wrong user name or password")
    expect(page.locator("#username")).to_have_value("admin")
    shot(page, tmp_path, "1-sign-in-error")
    from tests.e2e.console.conftest import ADMIN_PASSWORD

    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{wanted}")
    expect(page.locator("#f-bizdate")).to_have_value("20260411")

    page.fill("#f-bizdate", "2026-13")
    page.click("#filters button[type=submit]")
    expect(page.locator("#filters .field-error").first).to_contain_text("YYYYMMDD")
    expect(page.locator("#f-bizdate")).to_have_value("2026-13")
    shot(page, tmp_path, "2-filter-error-beside-the-field")
