"""Journeys of the Data Service and Monitoring modules in Chromium against the real
``lakeworks up`` of ``conftest``: publish a data API and test it; see a baseline's
state and an incident with its delivery attempts. Screenshots go under the tmp folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.console.conftest import WORKSPACE, Console, shot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

API = f"/api/workspaces/{WORKSPACE}"


def test_publish_a_data_api_and_test_it(console: Console, tmp_path: Path) -> None:
    page = console.page()
    sign_in(page, console, path=f"/w/{WORKSPACE}/dataservice")
    expect(page.locator("#apis")).to_contain_text("not published")
    shot(page, tmp_path, "1-apis")

    page.click("#apis a:text('daily')")
    expect(page.locator("h1")).to_contain_text("sales/daily")
    expect(page.locator("#param-since")).to_have_value("2026-04-10")
    page.click("#test-form button[type=submit]")
    expect(page.locator("#test-sql")).to_contain_text("biz_date")
    expect(page.locator("#test-request")).to_contain_text('"since": "2026-04-10"')
    expect(page.locator("#test-bound")).to_contain_text("2026-04-10")
    expect(page.locator("#test-rows table tbody tr").first).to_be_visible()
    shot(page, tmp_path, "2-tested-in-dev")

    page.click("#publish")
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-ok")
    expect(page.locator("#publish-state")).to_contain_text("published v1")
    expect(page.locator("#versions")).to_contain_text("v1")
    shot(page, tmp_path, "3-published")
    with console.api() as client:
        served = client.get(f"{API}/dataservice/apis").json()["items"]
    assert [a["published"] for a in served if a["key"] == "sales/daily"] == [1]


def test_see_a_baseline_state_and_an_incident(console: Console, tmp_path: Path) -> None:
    console.wait_for(f"{API}/envs/prod/alerts/incidents", lambda b: b["items"])
    console.wait_for(f"{API}/envs/prod/baselines", lambda b: b["items"])
    page = console.page()
    sign_in(page, console, path=f"/w/{WORKSPACE}/envs/prod/monitoring")
    baselines = page.locator("#baselines")
    expect(baselines).to_contain_text("morning_report")
    expect(baselines.locator(".state").first).to_have_text(re.compile("^(safe|warning|breached)$"))
    incidents = page.locator("#incidents")
    expect(incidents).to_contain_text("publish_failed")
    expect(incidents).to_contain_text("sales_pipeline.03_publish")
    shot(page, tmp_path, "1-monitoring")

    incidents.locator("a").first.click()
    history = page.locator("#alert-history")
    expect(history).to_contain_text("team_hook")
    shot(page, tmp_path, "2-incident-alerts")
