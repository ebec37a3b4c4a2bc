"""Stream nodes through the API: start queues a worker instance, pause and resume are
recorded, reset needs the node key as confirmation and is refused while it runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lakeworks.security.permissions import Role
from lakeworks.store.models import InstanceState
from lakeworks.store.repositories import InstanceRepository
from tests.integration.api.conftest import WORKSPACE, Api

NODE = "sales_pipeline.ev"
STREAMS = f"/api/workspaces/{WORKSPACE}/envs/dev/streams"


def test_start_pause_and_reset_a_stream(home: Path, api_factory: Callable[..., Api]) -> None:
    config = home / "lakeworks.yml"
    config.write_text(
        config.read_text()
        + "data_sources:\n  events: {type: kafka, bootstrap_servers: '127.0.0.1:1'}\n"
    )
    (home / "workflows/sales_pipeline/ev.stream.yml").write_text(
        "source: {data_source: events, topics: [ev]}\ntarget: {table: ev_t}\n"
    )
    api = api_factory(home)
    developer = api.member("dev", Role.DEVELOPER)
    viewer = api.member("vic", Role.VIEWER)
    actions = f"{STREAMS}/{NODE}/actions"
    assert api.client.post(actions, json={"action": "start"}, headers=viewer).status_code == 403
    started = api.client.post(actions, json={"action": "start"}, headers=developer).json()
    instance = InstanceRepository(api.services.db).get(started["instance_id"])
    assert instance.state is InstanceState.WAITING_RESOURCES
    again = api.client.post(actions, json={"action": "start"}, headers=developer)
    assert again.status_code == 409
    api.client.post(actions, json={"action": "pause"}, headers=developer)
    status = api.client.get(f"{STREAMS}/{NODE}", headers=viewer).json()
    assert (status["desired"], status["instance_id"]) == ("paused", instance.id)
    reset = f"{STREAMS}/{NODE}/reset"
    busy = api.client.post(reset, json={"confirm": NODE}, headers=developer)
    assert busy.status_code == 409 and "stop it" in busy.json()["error"]["message"]
    api.client.post(actions, json={"action": "stop"}, headers=developer)
    wrong = api.client.post(reset, json={"confirm": "ev"}, headers=developer)
    assert wrong.status_code == 400 and NODE in wrong.json()["error"]["message"]
    done = api.client.post(reset, json={"confirm": NODE}, headers=developer).json()
    assert done == {"node": NODE, "forgotten": {}, "dropped_slot": None}
