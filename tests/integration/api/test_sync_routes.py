"""Sync runs and their quarantined rows through the API."""

from __future__ import annotations

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
