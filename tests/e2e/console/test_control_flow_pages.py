"""Control-flow instances in the Operations Center, in Chromium against a real
``lakeworks up`` of the regions example after a ``lakeworks run``: the branch taken
and the skipped path, a for-each's iterations, a sub-workflow's called run."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lakeworks.spec.init import init_workspace
from tests.e2e.console.conftest import ADMIN_PASSWORD, Console, serve, shot, sign_in
from tests.services import lakeworks_command, require_chromium, server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WS = "regions-lab"
OPS = f"/w/{WS}/envs/dev/ops"


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    chromium = require_chromium()
    base_dir = tmp_path_factory.mktemp("regions")
    root = init_workspace(base_dir / "lab", "regions")
    env = server_env(ADMIN_PASSWORD)
    ran = subprocess.run(
        [lakeworks_command(), "run", "-w", str(root), "--bizdate", "20260411"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    with serve(root, env, base_dir, chromium) as (base, log, browser):
        yield Console(base, root, base_dir / "no-flag", log, browser)


def _instance_id(console: Console, node: str) -> int:
    with console.api() as client:
        body = client.get(f"/api/workspaces/{WS}/envs/dev/instances?node={node}").json()
    return int(body["items"][0]["id"])


def test_control_flow_instances_show_what_they_decided(regions: Console, tmp_path: Path) -> None:
    page = regions.page()
    route = _instance_id(regions, "regions.route")
    sign_in(page, regions, path=f"{OPS}/instances/{route}")
    card = page.locator("#control-flow")
    expect(card.locator("h3")).to_have_text("Branch node")
    expect(card).to_contain_text("Branch taken")
    expect(card.locator("dd strong")).to_have_text("full")
    shot(page, tmp_path, "01_branch")

    skipped = _instance_id(regions, "regions.report_incremental")
    page.goto(f"{regions.base}{OPS}/instances/{skipped}")
    expect(page.locator(".notice")).to_contain_text("branch not taken")
    expect(page.locator("h1 .state")).to_have_text("skipped")

    loop = _instance_id(regions, "regions.per_region")
    page.goto(f"{regions.base}{OPS}/instances/{loop}")
    expect(card.locator("h3")).to_have_text("For-each node")
    expect(card).to_contain_text("3 of 3 succeeded")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("success")
    shot(page, tmp_path, "02_foreach")
    rows.nth(1).locator("a").click()  # the iteration's run: its instances
    page.wait_for_url("**/ops?run=*")
    expect(page.locator("table.list tbody tr").first).to_contain_text("per_region.load_region")

    publish = _instance_id(regions, "regions.publish")
    page.goto(f"{regions.base}{OPS}/instances/{publish}")
    expect(card.locator("h3")).to_have_text("Sub-workflow node")
    expect(card).to_contain_text("Called run")
    expect(card.locator("tbody tr")).to_contain_text("publish")
    shot(page, tmp_path, "03_subflow")

    assign = _instance_id(regions, "regions.assign_regions")
    page.goto(f"{regions.base}{OPS}/instances/{assign}")
    expect(card.locator("h3")).to_have_text("Output")
    expect(card.locator("dd.mono")).to_contain_text('"east"')

    page.goto(f"{regions.base}/w/{WS}/studio/publish")  # a called workflow is still edited
    expect(page.locator("main")).to_contain_text("no schedule of its own")
    expect(page.locator(".graph-box")).to_contain_text("announce")  # its DAG is drawn
    shot(page, tmp_path, "04_called_workflow")
    page.context.close()
