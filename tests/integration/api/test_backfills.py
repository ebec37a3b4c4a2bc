"""Backfills over the API: the same selections and outside dependencies as the CLI."""

from __future__ import annotations

from lakeworks.security.permissions import Role
from tests.integration.api.conftest import WORKSPACE, Api
from tests.integration.api.test_deployments import deploy

BASE = f"/api/workspaces/{WORKSPACE}"


def test_preview_of_a_workflow_with_its_outside_dependencies(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    deployer = api.member("dep", Role.DEPLOYER)
    created = deploy(api, dev, "first")
    api.client.post(f"{BASE}/deployments/{created['id']}/apply", headers=deployer)
    operator = api.member("olga", Role.OPERATOR)
    whole = api.client.post(
        f"{BASE}/envs/prod/backfills/preview",
        json={"workflows": ["sales_pipeline"], "dates": [["2026-04-01", "2026-04-03"]]},
        headers=operator,
    )
    assert whole.status_code == 200, whole.text
    plan = whole.json()
    assert plan["nodes"] == [
        "sales_pipeline.01_create_and_load_sales_raw",
        "sales_pipeline.02_build_sales_daily",
    ]
    assert plan["instance_count"] == 6
    assert plan["outside"] == []
    one = api.client.post(
        f"{BASE}/envs/prod/backfills/preview",
        json={"node": "02_build_sales_daily", "dates": [["2026-04-01", "2026-04-01"]]},
        headers=operator,
    ).json()
    assert [(o["node"], o["state"]) for o in one["outside"]] == [
        ("sales_pipeline.01_create_and_load_sales_raw", "not created yet")
    ]
    assert any("does not produce" in w for w in one["warnings"])
    upstream = api.client.post(
        f"{BASE}/envs/prod/backfills/preview",
        json={
            "node": "02_build_sales_daily",
            "scope": "upstream",
            "depth": 1,
            "dates": [["2026-04-01", "2026-04-01"]],
        },
        headers=operator,
    ).json()
    assert len(upstream["nodes"]) == 2 and upstream["outside"] == []
