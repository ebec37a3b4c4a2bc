"""A real ``lakeworks up`` with the sales example plus two shell nodes, and Chromium.

``03_publish`` fails while a flag file exists (so the Operations Center has a failed
instance with a downstream one, ``04_notify``); the workspace is run once in dev and
deployed before the server starts (as ``make up`` does), so the scheduler runs the
day's instances in prod.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from lakeworks.spec.init import init_workspace
from tests.services import lakeworks_command, require_chromium, server_env, serving

ADMIN_PASSWORD = "console-admin-password"
WORKSPACE = "sales-lab"


@dataclass
class Console:
    base: str
    root: Path
    flag: Path
    log: Path
    browser: Browser

    def page(self) -> Page:
        """A fresh browser context (its own cookies) with a wide window."""
        context = self.browser.new_context(viewport={"width": 1400, "height": 900})
        return context.new_page()

    @contextmanager
    def api(self) -> Iterator[httpx.Client]:
        """An API client signed in as the administrator (CSRF header set)."""
        with httpx.Client(base_url=self.base, timeout=30) as client:
            login = client.post(
                "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            client.headers["x-csrf-token"] = login.json()["csrf_token"]
            yield client

    def wait_for(self, path: str, done: object, seconds: float = 90) -> dict[str, object]:
        with self.api() as client:
            deadline = time.monotonic() + seconds
            body: dict[str, object] = {}
            while time.monotonic() < deadline:
                body = client.get(path).json()
                if done(body):  # type: ignore[operator]
                    return body
                time.sleep(0.3)
        raise AssertionError(f"gave up waiting on {path}: {body}\n{self.log.read_text()[-3000:]}")


def _workspace(root: Path, flag: Path) -> None:
    init_workspace(root, "sales")
    flows = root / "workflows/sales_pipeline"
    # at midnight, so that today's cycle has always begun when the server starts
    config = flows / "workflow.yml"
    config.write_text(config.read_text().replace('at: "02:00"', 'at: "00:00"'))
    (flows / "03_publish.sh").write_text(
        "# ---\n# depends_on: [02_build_sales_daily]\n# retries: 0\n# ---\n"
        'echo "publishing the daily sales for $bizdate"\n'
        f'if [ -f "{flag}" ]; then echo "the export share is not mounted" >&2; exit 3; fi\n'
        'echo "published"\n'
    )
    (flows / "04_notify.sh").write_text(
        "# ---\n# depends_on: [03_publish]\n# retries: 0\n# ---\necho notified\n"
    )
    # a rule that opens an incident when 03_publish fails (its hook refuses, so the
    # delivery attempts fail) and a baseline whose committed finish has passed
    (root / "alerts").mkdir(exist_ok=True)
    (root / "alerts/ops.yml").write_text(
        "channels:\n"
        "  team_hook: {type: webhook, url: 'http://127.0.0.1:9/hook'}\n"
        "rules:\n"
        "  - name: publish_failed\n"
        "    objects: {nodes: [sales_pipeline.03_publish]}\n"
        "    trigger: {type: retries_exhausted}\n"
        "    channels: [team_hook]\n"
        "baselines:\n"
        "  - name: morning_report\n"
        "    nodes: [sales_pipeline.04_notify]\n"
        "    priority: 8\n"
        '    finish: "00:01"\n'
        "    margin_minutes: 1\n"
    )


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    chromium = require_chromium()
    base_dir = tmp_path_factory.mktemp("console")
    root = base_dir / "ws"
    share = base_dir / "share"  # a folder the nodes are allowed to see
    share.mkdir()
    flag = share / "fail.flag"
    flag.write_text("fail")
    _workspace(root, flag)
    env = server_env(ADMIN_PASSWORD)
    env["LAKEWORKS_SANDBOX_PATHS"] = str(share)
    first_run = subprocess.run(
        [lakeworks_command(), "run", "-w", str(root), "--bizdate", "20260411"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "[02_build_sales_daily] succeeded" in first_run.stderr, first_run.stderr
    deployed = subprocess.run(
        [lakeworks_command(), "deploy", str(root), "-w", str(root), "-m", "first release"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr
    with serve(root, env, base_dir, chromium) as (base, log, browser):
        yield Console(base, root, flag, log, browser)


@contextmanager
def serve(
    root: Path, env: dict[str, str], base_dir: Path, chromium: str
) -> Iterator[tuple[str, Path, Browser]]:
    """``lakeworks up`` on ``root`` and a Chromium: the base URL, server log, browser."""
    log = base_dir / "server.log"
    with (
        serving(root, env, log, "--grace", "5", ready="/login") as (_, base),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            yield base, log, browser
        finally:
            browser.close()


def sign_in(
    page: Page,
    console: Console,
    user: str = "admin",
    password: str = ADMIN_PASSWORD,
    path: str = f"/w/{WORKSPACE}",
) -> None:
    """Open ``path``; the console sends the browser to sign in and then back there."""
    page.goto(console.base + path)
    page.wait_for_url("**/login?next=*")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def shot(page: Page, folder: Path, name: str) -> None:
    """A full-page screenshot under the test's output folder."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
