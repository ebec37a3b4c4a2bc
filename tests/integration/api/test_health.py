"""``GET /api/health`` answers without sign-in and says which parts run."""

from __future__ import annotations

from tests.integration.api.conftest import Api


def test_health_without_a_scheduler_says_it_is_off(api: Api) -> None:
    answer = api.client.get("/api/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "parts": {"api": "running", "scheduler": "off", "worker": "off"},
    }


def test_a_failed_part_makes_the_server_unhealthy(api: Api) -> None:
    parts = {"scheduler": "running", "worker": "running"}
    api.app.state.health = lambda: parts
    assert api.client.get("/api/health").json()["status"] == "ok"
    parts["scheduler"] = "failed"
    answer = api.client.get("/api/health")
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "degraded",
        "parts": {"api": "running", "scheduler": "failed", "worker": "running"},
    }
