"""Deployments: diff against prod, validation, approval, atomic apply, rollback."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from lakeworks.deploy.service import DeploymentService
from lakeworks.deploy.source import DeployedWorkspaceSource
from lakeworks.deploy.tables import releases
from lakeworks.security.permissions import Role
from lakeworks.store.repositories import InstanceRepository
from lakeworks.store.schema import node_versions
from tests.integration.api.conftest import WORKSPACE, Api

BASE = f"/api/workspaces/{WORKSPACE}"
DAILY = "workflows/sales_pipeline/02_build_sales_daily.sql"


def edit(home: Path, path: str, old: str, new: str) -> None:
    target = home / path
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))


def prod_state(api: Api) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with api.services.db.read() as conn:
        rel = conn.execute(sa.select(releases.c.number, releases.c.deployment_id)).all()
        versions = conn.execute(
            sa.select(node_versions.c.node_key, node_versions.c.version).where(
                node_versions.c.env == "prod"
            )
        ).all()
    return [tuple(r) for r in rel], [tuple(v) for v in versions]


def deploy(api: Api, headers: dict[str, str], description: str = "") -> dict[str, object]:
    response = api.client.post(
        f"{BASE}/deployments", json={"description": description}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_first_deployment_adds_every_node_and_becomes_release_one(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    deployer = api.member("dep", Role.DEPLOYER)
    created = deploy(api, dev, "first")
    assert created["state"] == "ready"
    summary = created["summary"]
    assert isinstance(summary, dict)
    assert sorted(summary["nodes_added"]) == [
        "sales_pipeline.01_create_and_load_sales_raw",
        "sales_pipeline.02_build_sales_daily",
    ]
    refused = api.client.post(f"{BASE}/deployments/{created['id']}/apply", headers=dev)
    assert refused.status_code == 403  # developers prepare, deployers apply
    applied = api.client.post(f"{BASE}/deployments/{created['id']}/apply", headers=deployer)
    assert applied.status_code == 200
    assert applied.json()["number"] == 1
    prod = api.services.source(WORKSPACE).current("prod")
    assert sorted(n.key for n in prod.nodes()) == sorted(summary["nodes_added"])


def test_the_diff_shows_what_changes_against_prod(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    deployer = api.member("dep", Role.DEPLOYER)
    first = deploy(api, dev)
    api.client.post(f"{BASE}/deployments/{first['id']}/apply", headers=deployer)
    edit(api.home, DAILY, "COUNT(1)", "COUNT(*)")
    second = deploy(api, dev)
    assert second["summary"]["nodes_modified"] == ["sales_pipeline.02_build_sales_daily"]  # type: ignore[index]
    diff = api.client.get(f"{BASE}/deployments/{second['id']}/diff", headers=dev).json()
    assert list(diff["files"]) == [DAILY]
    assert "-  COUNT(1) AS order_count," in diff["files"][DAILY]
    assert "+  COUNT(*) AS order_count," in diff["files"][DAILY]


def test_a_deployment_that_fails_validation_changes_nothing(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    deployer = api.member("dep", Role.DEPLOYER)
    first = deploy(api, dev)
    api.client.post(f"{BASE}/deployments/{first['id']}/apply", headers=deployer)
    before = prod_state(api)
    prod_before = api.services.source(WORKSPACE).current("prod")
    edit(api.home, DAILY, "FROM sales_raw", "FROM sales_raw JOIN")
    broken = deploy(api, dev)
    assert broken["state"] == "invalid"
    problems = broken["problems"]
    assert isinstance(problems, list) and problems
    assert problems[0]["file"] == DAILY and problems[0]["line"] == 19
    refused = api.client.post(f"{BASE}/deployments/{broken['id']}/apply", headers=deployer)
    assert refused.status_code == 409
    assert "failed validation" in refused.json()["error"]["message"]
    assert prod_state(api) == before
    prod_after = api.services.source(WORKSPACE).current("prod")
    assert [n.code for n in prod_after.nodes()] == [n.code for n in prod_before.nodes()]


def test_approval_is_needed_and_an_author_cannot_approve_their_own(api: Api) -> None:
    api.services.workspaces.set_require_approval(WORKSPACE, True)
    alice = api.member("alice", Role.DEPLOYER)
    bob = api.member("bob", Role.DEPLOYER)
    created = deploy(api, alice)
    assert created["state"] == "pending_approval"
    path = f"{BASE}/deployments/{created['id']}"
    assert api.client.post(f"{path}/apply", headers=alice).status_code == 409
    own = api.client.post(f"{path}/approve", json={}, headers=alice)
    assert own.status_code == 403
    assert "author" in own.json()["error"]["message"]
    approved = api.client.post(f"{path}/approve", json={"note": "looks good"}, headers=bob)
    assert approved.json()["state"] == "ready"
    assert approved.json()["decided_by"] == "bob"
    assert api.client.post(f"{path}/apply", headers=alice).status_code == 200


def test_a_deployment_prepared_against_an_older_release_is_not_applied(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    deployer = api.member("dep", Role.DEPLOYER)
    first = deploy(api, dev)
    edit(api.home, DAILY, "COUNT(1)", "COUNT(*)")
    second = deploy(api, dev)
    assert api.client.post(f"{BASE}/deployments/{second['id']}/apply", headers=deployer).is_success
    stale = api.client.post(f"{BASE}/deployments/{first['id']}/apply", headers=deployer)
    assert stale.status_code == 409
    assert "moved to release 1" in stale.json()["error"]["message"]


def test_rollback_restores_the_exact_previous_versions(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    deployer = api.member("dep", Role.DEPLOYER)
    for change in (None, ("COUNT(1)", "COUNT(*)"), ("COUNT(*)", "COUNT(order_id)")):
        if change:
            edit(api.home, DAILY, *change)
        created = deploy(api, dev)
        applied = api.client.post(f"{BASE}/deployments/{created['id']}/apply", headers=deployer)
        assert applied.status_code == 200
    release_one = api.client.get(f"{BASE}/releases/1?files=true", headers=dev).json()
    assert release_one["nodes"]["sales_pipeline.02_build_sales_daily"] == 1
    rolled = api.client.post(
        f"{BASE}/releases/1/rollback", json={"apply": True}, headers=deployer
    ).json()
    assert rolled["kind"] == "rollback" and rolled["state"] == "applied"
    current = rolled["applied_release"]
    assert current["number"] == 4
    assert current["nodes"] == release_one["nodes"]  # the same version numbers
    now = api.client.get(f"{BASE}/releases/4?files=true", headers=dev).json()
    assert now["files"] == release_one["files"]  # byte for byte
    prod = api.services.source(WORKSPACE).current("prod")
    assert "COUNT(1)" in (prod.find_node("02_build_sales_daily") or prod.nodes()[0]).code
    with api.services.db.read() as conn:
        versions = conn.execute(
            sa.select(sa.func.count()).where(
                node_versions.c.env == "prod",
                node_versions.c.node_key == "sales_pipeline.02_build_sales_daily",
            )
        ).scalar_one()
    assert versions == 3  # no new version was made for the rollback
    # the scheduler plans prod with the release's own version numbers
    from lakeworks.runtime.scheduler import Scheduler, SchedulerConfig

    scheduler = Scheduler(
        api.services.db, api.services.source(WORKSPACE), SchedulerConfig(env="prod")
    )
    scheduler.run_once()
    planned = {
        i.node_version
        for i in InstanceRepository(api.services.db).list(
            workspace=WORKSPACE, env="prod", node_keys=["sales_pipeline.02_build_sales_daily"]
        )
    }
    assert planned == {1}


def test_deploying_from_a_git_folder_goes_through_the_same_path(api: Api, tmp_path: Path) -> None:
    from tests.integration.api.conftest import copy_example

    checkout = copy_example(tmp_path / "checkout")
    edit(checkout, DAILY, "COUNT(1)", "COUNT(DISTINCT order_id)")
    service = DeploymentService(api.services.db, WORKSPACE)
    deployment = service.create_from_folder(checkout, actor="ci", source="git abc123")
    release = service.apply(deployment.id, actor="ci")
    listed = api.client.get(f"{BASE}/deployments", headers=api.member("v", Role.VIEWER)).json()
    assert listed["items"][0]["source"] == "git abc123"
    prod = DeployedWorkspaceSource(api.services.db, api.home, WORKSPACE).current("prod")
    assert "COUNT(DISTINCT order_id)" in prod.nodes()[1].code
    assert release.number == 1


def test_a_folder_of_another_workspace_is_refused(api: Api, tmp_path: Path) -> None:
    from tests.integration.api.conftest import copy_example

    other = copy_example(tmp_path / "other")
    edit(other, "lakeworks.yml", "name: sales-lab", "name: marketing")
    deployment = DeploymentService(api.services.db, WORKSPACE).create_from_folder(other, actor="ci")
    assert deployment.state.value == "invalid"
    assert "workspace 'marketing'" in deployment.problems[0].message
