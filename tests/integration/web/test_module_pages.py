"""The Data Service and Monitoring pages over a real store: what each role is shown,
the state a user acts on, and that no secret reaches a page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from lakeworks.alerts.tables import (
    alert_deliveries,
    alert_delivery_attempts,
    alert_incidents,
    alert_messages,
    baseline_status,
)
from lakeworks.security.permissions import Role
from lakeworks.store.operations import OperationsStore
from tests.integration.api.conftest import WORKSPACE, Api

DS = f"/w/{WORKSPACE}/dataservice"
API = f"/api/workspaces/{WORKSPACE}/dataservice"
MONITORING = f"/w/{WORKSPACE}/envs/prod/monitoring"


def test_the_api_list_shows_each_api_and_whether_it_is_published(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    before = api.client.get(DS, headers=admin).text
    assert "sales/daily" in before and "not published" in before
    assert 'id="app-form"' in before and 'id="limits-form"' not in before  # no app yet
    published = api.client.post(f"{API}/apis/sales/daily/publish", json={}, headers=admin)
    assert published.status_code == 200, published.text
    after = api.client.get(DS, headers=admin).text
    assert "v1" in after and "state-success" in after


def test_an_api_page_offers_publishing_only_with_api_publish(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    viewer = api.member("vic", Role.VIEWER)
    page = api.client.get(f"{DS}/apis/sales/daily", headers=admin).text
    assert 'id="publish"' in page and "SELECT biz_date" in page and 'name="since"' in page
    assert f'data-test="{API}/apis/sales/daily/test"' in page
    shown = api.client.get(f"{DS}/apis/sales/daily", headers=viewer).text
    assert "SELECT biz_date" in shown
    assert 'id="publish"' not in shown and 'id="test-form"' not in shown


def test_versions_can_be_compared_and_rolled_back_from_the_api_page(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    api.client.post(f"{API}/apis/sales/daily/publish", json={}, headers=admin)
    definition = api.home / "dataservice/sales/daily.api.yml"
    definition.write_text(definition.read_text().replace("ORDER BY biz_date", "ORDER BY 1"))
    api.client.post(f"{API}/apis/sales/daily/publish", json={}, headers=admin)
    page = api.client.get(f"{DS}/apis/sales/daily?old=1&new=2", headers=admin).text
    assert '<span class="add">+ORDER BY 1</span>' in page
    assert '<span class="del">-ORDER BY biz_date</span>' in page
    assert "Roll back to v1" in page and "Roll back to v2" not in page
    bad = api.client.get(f"{DS}/apis/sales/daily?old=9", headers=admin)
    assert bad.status_code == 200 and 'class="error"' in bad.text


def test_an_application_secret_never_reaches_a_page(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    created = api.client.post(f"{API}/apps", json={"name": "bi", "per_day": 500}, headers=admin)
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    put = api.client.put(
        f"{API}/apps/bi/grants/sales/daily", json={"until": "2030-01-01T00:00:00"}, headers=admin
    )
    assert put.status_code == 200, put.text
    listing = api.client.get(DS, headers=admin).text
    assert "bi" in listing and "500/day" in listing and created.json()["app_key"] in listing
    assert 'data-confirm="Revoke the application bi?"' in listing and 'id="limits-form"' in listing
    page = api.client.get(f"{DS}/apis/sales/daily", headers=admin).text
    assert "Ungrant" in page and "2030-01-01" in page
    assert secret not in listing + page


def test_an_unknown_api_is_a_not_found_page(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    response = api.client.get(f"{DS}/apis/sales/nope", headers=admin)
    assert response.status_code == 404
    assert "sales/nope" in response.text


def _seed_alerts(api: Api) -> None:
    now = datetime(2026, 4, 11, 8, 30, tzinfo=UTC)
    with api.services.db.write() as conn:
        conn.execute(
            baseline_status.insert().values(
                workspace=WORKSPACE,
                env="prod",
                baseline="morning_report",
                period=datetime(2026, 4, 11, tzinfo=UTC),
                priority=8,
                committed_at=now,
                state="breached",
                predicted_finish=now + timedelta(minutes=40),
                key_path_json=json.dumps(["sales_pipeline.01_load", "sales_pipeline.02_build"]),
                events_json="[]",
                updated_at=now,
            )
        )
        incident = conn.execute(
            alert_incidents.insert().values(
                workspace=WORKSPACE,
                env="prod",
                rule="late_report",
                subject="baseline:morning_report",
                trigger="baseline_breached",
                state="open",
                summary="morning_report will finish 40 min late",
                opened_at=now,
                alerts_sent=1,
            )
        ).inserted_primary_key[0]
        message = conn.execute(
            alert_messages.insert().values(
                incident_id=incident,
                kind="alert",
                title="Baseline breached",
                body="b",
                created_at=now,
            )
        ).inserted_primary_key[0]
        delivery = conn.execute(
            alert_deliveries.insert().values(
                message_id=message,
                channel="ding",
                idempotency_key="k1",
                state="failed",
                attempts=1,
                next_attempt_at=now,
            )
        ).inserted_primary_key[0]
        conn.execute(
            alert_delivery_attempts.insert().values(
                delivery_id=delivery, number=1, at=now, ok=False, detail="HTTP 502"
            )
        )


def test_monitoring_shows_baseline_state_incidents_and_delivery_attempts(api: Api) -> None:
    _seed_alerts(api)
    operator = api.member("otto", Role.OPERATOR)
    page = api.client.get(MONITORING, headers=operator).text
    assert "morning_report" in page and "breached" in page
    assert "sales_pipeline.01_load → sales_pipeline.02_build" in page
    assert "morning_report will finish 40 min late" in page
    assert "attempt 1" in page and "HTTP 502" in page
    assert (
        api.client.get(f"/w/{WORKSPACE}/envs/dev/monitoring", headers=operator).status_code == 200
    )


def test_a_channel_is_shown_by_host_and_its_secret_never(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    body = {
        "channel": {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?t=tok-77"},
        "secret": "sig-Secret-5",
    }
    assert api.client.put(
        f"/api/workspaces/{WORKSPACE}/alerts/channels/ding", json=body, headers=admin
    ).is_success
    page = api.client.get(MONITORING, headers=admin).text
    assert "oapi.dingtalk.com" in page and "set (write-only)" in page
    assert "tok-77" not in page and "sig-Secret-5" not in page


def test_a_node_is_frozen_and_unfrozen_a_whole_node_from_its_page(api: Api) -> None:
    node = "sales_pipeline.02_build_sales_daily"
    trend = f"/w/{WORKSPACE}/envs/dev/ops/trend?node={node}"
    operator = api.member("dora", Role.DEVELOPER)
    viewer = api.member("vic", Role.VIEWER)
    assert "Not scheduled in dev yet" in api.client.get(trend, headers=operator).text
    OperationsStore(api.services.db).sync_nodes(
        WORKSPACE, "dev", [(node, "sales_pipeline", None, None, 1)]
    )
    page = api.client.get(trend, headers=operator).text
    assert "Scheduled normally." in page and 'id="freeze-node"' in page
    assert 'id="freeze-node"' not in api.client.get(trend, headers=viewer).text
    freeze = f"/api/workspaces/{WORKSPACE}/envs/dev/nodes/{node}/freeze"
    assert api.client.post(freeze, headers=operator).is_success
    frozen = api.client.get(trend, headers=operator).text
    assert "frozen</span> by dora" in frozen and 'id="unfreeze-node"' in frozen
    assert f'data-post="{freeze}?frozen=false"' in frozen
