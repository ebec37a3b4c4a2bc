"""Alert rules, channels and views through the API: write-only secrets, checked references."""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.alerts.tables import alert_channels
from lakeworks.security.permissions import Role
from lakeworks.security.tables import stored_secrets
from tests.integration.api.conftest import WORKSPACE, Api

BASE = f"/api/workspaces/{WORKSPACE}"
SECRET = "ding-Secret-91ac"
RULE = {
    "objects": {"workflows": ["sales_pipeline"]},
    "trigger": {"type": "retries_exhausted"},
    "channels": ["ding"],
    "recipients": {"owner": True},
    "max_alerts": 2,
}


def test_a_channel_secret_is_stored_encrypted_and_never_returned(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    body = {
        "channel": {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?t=x"},
        "secret": SECRET,
    }
    put = api.client.put(f"{BASE}/alerts/channels/ding", json=body, headers=admin)
    assert put.status_code == 200, put.text
    listed = api.client.get(f"{BASE}/alerts/channels", headers=admin)
    assert listed.json()["items"] == [{"name": "ding", "type": "dingtalk", "has_secret": True}]
    assert SECRET not in put.text + listed.text
    with api.services.db.read() as conn:
        spec = conn.execute(sa.select(alert_channels.c.spec_json)).scalar_one()
        ciphertext = conn.execute(sa.select(stored_secrets.c.ciphertext)).scalar_one()
    assert SECRET not in spec and SECRET not in ciphertext
    assert "lwsecret:" in spec


def test_rules_must_name_known_channels_and_nodes(api: Api) -> None:
    admin = api.member("ada", Role.ADMIN)
    operator = api.member("dev", Role.DEVELOPER)  # dev rules: developers; prod: operators
    rules = f"{BASE}/envs/dev/alerts/rules"
    missing = api.client.put(f"{rules}/late", json=RULE, headers=operator)
    assert missing.status_code == 400
    assert "unknown channel 'ding'" in missing.text
    channel = {"channel": {"type": "slack", "url": "https://hooks.slack.com/services/T/B/x"}}
    api.client.put(f"{BASE}/alerts/channels/ding", json=channel, headers=admin)
    ok = api.client.put(f"{rules}/late", json=RULE, headers=operator)
    assert ok.status_code == 200, ok.text
    bad_node = {**RULE, "objects": {"nodes": ["sales_pipeline.nope"]}}
    refused = api.client.put(f"{rules}/other", json=bad_node, headers=operator)
    assert refused.status_code == 400 and "unknown node 'sales_pipeline.nope'" in refused.text
    bad = {**RULE, "max_alerts": 11}
    invalid = api.client.put(f"{rules}/other", json=bad, headers=operator)
    assert invalid.status_code == 400 and "max_alerts" in invalid.text
    listed = api.client.get(rules, headers=operator).json()["items"]
    assert [(r["name"], r["source"], r["max_alerts"]) for r in listed] == [("late", "api", 2)]
    viewer = api.member("vic", Role.VIEWER)
    assert api.client.put(f"{rules}/late", json=RULE, headers=viewer).status_code == 403
    assert api.client.delete(f"{rules}/late", headers=operator).status_code == 200
    assert api.client.delete(f"{rules}/late", headers=operator).status_code == 404


def test_views_are_empty_lists_before_anything_happened(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    for path in ("alerts/incidents", "alerts", "baselines"):
        response = api.client.get(f"{BASE}/envs/prod/{path}", headers=viewer)
        assert response.status_code == 200 and response.json() == {"items": []}
