"""Sync runs and their quarantined rows through the API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lakeworks.integration.state import SyncState
from lakeworks.security.permissions import Role
from tests.integration.api.conftest import WORKSPACE, Api

PROD = f"/api/workspaces/{WORKSPACE}/envs/prod/sync"


def test_sync_runs_and_dirty_rows_are_listed_per_environment(api: Api) -> None:
    state = SyncState(api.services.db, WORKSPACE, "prod")
    run_id = state.start_run(
        "ingest.orders", instance_id=None, attempt=1, bizdate="20260410", cursor_before=None
    )
    state.add_dirty(run_id, [("row 7", "amount: not a number", '{"amount": "x"}')])
    other = SyncState(api.services.db, "another", "prod").start_run(
        "ingest.orders", instance_id=None, attempt=1, bizdate=None, cursor_before=None
    )
    operator = api.member("op", Role.OPERATOR)
    runs = api.client.get(f"{PROD}/runs", headers=operator).json()["items"]
    assert [(r["id"], r["node_key"], r["state"]) for r in runs] == [
        (run_id, "ingest.orders", "running")
    ]
    dirty = api.client.get(f"{PROD}/runs/{run_id}/dirty", headers=operator).json()["items"]
    assert dirty == [
        {"position": "row 7", "reason": "amount: not a number", "row": '{"amount": "x"}'}
    ]
    assert api.client.get(f"{PROD}/runs/{other}/dirty", headers=operator).status_code == 404
    viewer = api.member("vic", Role.VIEWER)
    assert api.client.get(f"{PROD}/runs/{run_id}/dirty", headers=viewer).status_code == 403


def test_a_sync_cursor_is_shown_and_reset_with_the_run_permission(
    home: Path, api_factory: Callable[..., Api]
) -> None:
    config = home / "lakeworks.yml"
    config.write_text(config.read_text() + "data_sources:\n  src: {type: sqlite, path: src.db}\n")
    (home / "workflows/sales_pipeline/ods_orders.sync.yml").write_text(
        "source: {data_source: src, table: orders}\ntarget: {table: ods_orders}\n"
    )
    api = api_factory(home)
    SyncState(api.services.db, WORKSPACE, "dev").set_cursor("sales_pipeline.ods_orders", 42)
    cursor = f"/api/workspaces/{WORKSPACE}/envs/dev/sync/cursors/sales_pipeline.ods_orders"
    viewer = api.member("vic", Role.VIEWER)
    developer = api.member("dev", Role.DEVELOPER)
    assert api.client.get(cursor, headers=viewer).json()["cursor"] == "42"
    assert api.client.post(f"{cursor}/reset", headers=viewer).status_code == 403
    page = api.client.get(f"/w/{WORKSPACE}/integration?env=dev", headers=developer).text
    assert f'data-post="{cursor}/reset"' in page
    assert (
        f'data-post="{cursor}/reset"'
        not in api.client.get(f"/w/{WORKSPACE}/integration?env=dev", headers=viewer).text
    )
    reset = api.client.post(f"{cursor}/reset", headers=developer).json()
    assert reset == {"node": "sales_pipeline.ods_orders", "reset": True, "before": "42"}
    assert api.client.get(cursor, headers=viewer).json()["cursor"] is None
    missing = (
        f"/api/workspaces/{WORKSPACE}/envs/dev/sync/cursors/sales_pipeline.02_build_sales_daily"
    )
    assert api.client.get(missing, headers=viewer).status_code == 404
