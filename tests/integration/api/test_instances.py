"""Instances: filtered keyset pages, a dev run followed to its end, logs, actions."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from lakeworks.security.permissions import Role
from lakeworks.store.models import InstanceState, NewInstance
from lakeworks.store.repositories import InstanceRepository, LogRepository
from tests.integration.api.conftest import WORKSPACE, Api

PROD = f"/api/workspaces/{WORKSPACE}/envs/prod"
DEV = f"/api/workspaces/{WORKSPACE}/envs/dev"
STATES = [InstanceState.SUCCESS, InstanceState.FAILED, InstanceState.WAITING_UPSTREAM]


def seed(api: Api, count: int = 90) -> list[int]:
    start = datetime(2026, 4, 1, 2, 0)
    items = [
        NewInstance(
            workspace=WORKSPACE,
            env="prod",
            node_key=f"sales_pipeline.node_{n % 3}",
            workflow="sales_pipeline",
            cycle_time=start + timedelta(days=n // 3),
            bizdate=(start + timedelta(days=n // 3 - 1)).strftime("%Y%m%d"),
            state=STATES[n % 3],
        )
        for n in range(count)
    ]
    return [i.id for i in InstanceRepository(api.services.db).create_many(items)]


def test_pages_follow_each_other_newest_first_without_gaps(api: Api) -> None:
    ids = seed(api)
    viewer = api.member("vic", Role.VIEWER)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 25, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(f"{PROD}/instances", params=params, headers=viewer).json()
        seen.extend(i["id"] for i in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_filters_combine(api: Api) -> None:
    seed(api)
    viewer = api.member("vic", Role.VIEWER)
    page = api.client.get(
        f"{PROD}/instances",
        params={"state": "failed", "node": "sales_pipeline.node_1", "bizdate": "20260402"},
        headers=viewer,
    ).json()
    assert [(i["state"], i["node"], i["bizdate"]) for i in page["items"]] == [
        ("failed", "sales_pipeline.node_1", "20260402")
    ]
    several = api.client.get(
        f"{PROD}/instances", params={"state": "failed,success", "limit": 500}, headers=viewer
    ).json()
    assert len(several["items"]) == 60
    assert api.client.get(f"{DEV}/instances", headers=viewer).json()["items"] == []


def test_bad_filters_and_cursors_are_clear_errors(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    bad_state = api.client.get(f"{PROD}/instances", params={"state": "sleeping"}, headers=viewer)
    assert bad_state.status_code == 400
    assert "waiting_upstream" in bad_state.json()["error"]["details"]["hint"]
    bad_cursor = api.client.get(f"{PROD}/instances", params={"cursor": "%%%"}, headers=viewer)
    assert bad_cursor.status_code == 400
    too_many = api.client.get(f"{PROD}/instances", params={"limit": 5000}, headers=viewer)
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "invalid_request"


def test_an_instance_of_another_environment_is_not_found(api: Api) -> None:
    [first, *_] = seed(api, 3)
    viewer = api.member("vic", Role.VIEWER)
    assert api.client.get(f"{PROD}/instances/{first}", headers=viewer).status_code == 200
    assert api.client.get(f"{DEV}/instances/{first}", headers=viewer).status_code == 404


def test_a_dev_run_runs_in_the_background_and_its_log_can_be_followed(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    started = api.client.post(
        f"/api/workspaces/{WORKSPACE}/dev-runs", json={"bizdate": "20260411"}, headers=dev
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = api.client.get(f"{DEV}/runs/{run_id}", headers=dev).json()
        if run["state"] != "running":
            break
        time.sleep(0.1)
    assert run["state"] == "success"
    items = api.client.get(f"{DEV}/instances", params={"run_id": run_id}, headers=dev).json()
    assert sorted(i["state"] for i in items["items"]) == ["success", "success"]
    daily = next(i for i in items["items"] if i["node"].endswith("02_build_sales_daily"))
    log = api.client.get(f"{DEV}/instances/{daily['id']}/log", headers=dev).json()
    assert log["items"][-1]["text"] == "succeeded"
    followed = api.client.get(f"{DEV}/instances/{daily['id']}/log?follow=true", headers=dev)
    assert followed.headers["content-type"].startswith("text/plain")
    assert followed.text.rstrip("\n").endswith("succeeded")
    query = api.client.post(
        f"{DEV}/query", json={"sql": "SELECT COUNT(*) AS n FROM sales_daily"}, headers=dev
    )
    assert query.json()["rows"] == [[3]]


def test_following_a_running_instance_streams_until_it_ends(api: Api) -> None:
    instance_id = seed(api, 3)[2]
    repo = InstanceRepository(api.services.db)
    repo.transition(instance_id, InstanceState.RUNNING)
    LogRepository(api.services.db).append(instance_id, 1, ["first line"])
    operator = api.member("op", Role.OPERATOR)

    def finish() -> None:
        time.sleep(0.3)
        LogRepository(api.services.db).append(instance_id, 1, ["last line"])
        repo.transition(instance_id, InstanceState.SUCCESS)

    threading.Thread(target=finish).start()
    streamed = api.client.get(f"{PROD}/instances/{instance_id}/log?follow=true", headers=operator)
    assert streamed.text == "first line\nlast line\n"


def test_operators_act_on_prod_instances(api: Api) -> None:
    ids = seed(api, 3)
    failed = ids[1]
    operator = api.member("op", Role.OPERATOR)
    result = api.client.post(
        f"{PROD}/instances/actions/rerun", json={"ids": [failed, ids[0]]}, headers=operator
    ).json()
    assert [i["id"] for i in result["changed"]] == [ids[0], failed]
    assert result["changed"][1]["state"] == "not_run"
    refused = api.client.post(
        f"{PROD}/instances/actions/resume", json={"ids": [ids[0]]}, headers=operator
    ).json()
    assert refused["changed"] == []
    assert refused["refused"][0]["id"] == ids[0]
    assert "not_run" in refused["refused"][0]["reason"]
    developer = api.member("d", Role.DEVELOPER)
    elsewhere = api.client.post(
        f"{DEV}/instances/actions/rerun", json={"ids": [failed]}, headers=developer
    )
    assert elsewhere.status_code == 404
    actions = api.client.get(f"{PROD}/actions", headers=operator).json()["items"]
    assert actions[0]["actor"] == "op"
