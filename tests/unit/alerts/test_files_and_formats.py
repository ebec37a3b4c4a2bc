"""Alert files (errors with file and line) and webhook formats with their signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from lakeworks.alerts.channels import OutgoingMessage, email_message, webhook_request
from lakeworks.alerts.incidents import in_quiet_hours, may_alert
from lakeworks.alerts.loader import check_references, load_alert_text
from lakeworks.alerts.models import EmailChannel, RuleConfig, WebhookChannel
from lakeworks.errors import UserError

NOW = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
MESSAGE = OutgoingMessage(
    idempotency_key="lw-shop-7-hook",
    kind="alert",
    title="wf.ads 2026-05-04 01:00: failed",
    body="boom",
    rule="r",
    incident_id=3,
    created_at=NOW,
    mentions=("ann",),
)
RULE = "rules:\n  - {name: r, objects: {nodes: [wf.a]}, trigger: {type: failed}, channels: [c]}\n"


def test_a_file_with_several_problems_reports_each_with_its_line() -> None:
    text = (
        "channels:\n  c: {type: slack, url: 'https://x'}\n"
        "rules:\n"
        "  - {name: r, objects: {nodes: [wf.a]}, trigger: {type: failed}, channels: [c]}\n"
        "  - {name: r, objects: {nodes: [wf.a]}, trigger: {type: failed}, channels: [c]}\n"
    )
    with pytest.raises(UserError) as info:
        load_alert_text(text, "alerts/a.yml")
    assert info.value.location is not None and info.value.location.line == 5
    assert "rule 'r' is defined twice" in info.value.message


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ("{type: not_finished_by}", "not_finished_by needs 'at'"),
        ("{type: run_time_over, minutes: 5, factor: 2}", "exactly one of 'minutes' or 'factor'"),
        ("{type: cycle_overdue}", "cycle_overdue needs 'minutes'"),
        ("{type: dirty_rows_over}", "dirty_rows_over needs 'count'"),
        ("{type: sometimes}", "Input should be"),
    ],
)
def test_triggers_need_their_settings(trigger: str, message: str) -> None:
    rule = f"{{name: r, objects: {{workspace: true}}, trigger: {trigger}, channels: [c]}}"
    text = f"rules:\n  - {rule}\n"
    with pytest.raises(UserError) as info:
        load_alert_text(text, "a.yml")
    assert message in info.value.render()
    assert info.value.location is not None and info.value.location.line == 2


def test_names_that_point_nowhere_are_problems() -> None:
    found = load_alert_text(
        RULE + "baselines:\n  - {name: b, nodes: [wf.z], finish: '09:00'}\n", "a.yml"
    )
    problems = check_references(found, ["wf.a"], ["wf"], ["default"])
    assert [p.message for p in problems] == ["unknown node 'wf.z'", "unknown channel 'c'"]
    assert all(p.location is not None and p.location.file == "a.yml" for p in problems)


def test_a_rule_must_watch_something() -> None:
    with pytest.raises(ValidationError, match="watches nothing"):
        RuleConfig.model_validate(
            {"name": "r", "objects": {}, "trigger": {"type": "failed"}, "channels": ["c"]}
        )


def test_generic_webhook_is_signed_over_timestamp_and_body() -> None:
    channel = WebhookChannel(type="webhook", url="https://example.com/hook")
    request = webhook_request(channel, MESSAGE, "k3y", NOW)
    body = json.loads(request.body)
    assert body["idempotency_key"] == "lw-shop-7-hook" and body["recipients"] == ["ann"]
    stamp = request.headers["X-Lakeworks-Timestamp"]
    expected = hmac.new(b"k3y", stamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["X-Lakeworks-Signature"] == "sha256=" + expected.hexdigest()
    assert request.headers["Idempotency-Key"] == "lw-shop-7-hook"
    unsigned = webhook_request(channel, MESSAGE, None, NOW)
    assert "X-Lakeworks-Signature" not in unsigned.headers


def test_dingtalk_signs_in_the_query_string() -> None:
    channel = WebhookChannel(
        type="dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=t"
    )
    request = webhook_request(channel, MESSAGE, "SEC", NOW)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
    stamp = query["timestamp"][0]
    assert stamp == str(int(NOW.timestamp() * 1000)) and query["access_token"] == ["t"]
    digest = hmac.new(b"SEC", f"{stamp}\nSEC".encode(), hashlib.sha256).digest()
    assert query["sign"][0] == base64.b64encode(digest).decode()
    body = json.loads(request.body)
    assert body["msgtype"] == "text" and body["at"]["atUserIds"] == ["ann"]
    assert "@ann" in body["text"]["content"]


def test_feishu_signs_in_the_body() -> None:
    channel = WebhookChannel(type="feishu", url="https://open.feishu.cn/open-apis/bot/v2/hook/x")
    body = json.loads(webhook_request(channel, MESSAGE, "SEC", NOW).body)
    stamp = body["timestamp"]
    digest = hmac.new(f"{stamp}\nSEC".encode(), b"", hashlib.sha256).digest()
    assert body["sign"] == base64.b64encode(digest).decode()
    assert body["msg_type"] == "text" and "boom" in body["content"]["text"]


def test_slack_and_wecom_formats() -> None:
    slack = WebhookChannel(type="slack", url="https://hooks.slack.com/services/a")
    assert json.loads(webhook_request(slack, MESSAGE, None, NOW).body)["text"].startswith(
        "wf.ads 2026-05-04 01:00: failed\nboom"
    )
    wecom = WebhookChannel(type="wecom", url="https://qyapi.weixin.qq.com/x?key=k")
    body = json.loads(webhook_request(wecom, MESSAGE, None, NOW).body)
    assert body["text"]["mentioned_list"] == ["ann"]


def test_email_carries_the_key_as_message_id() -> None:
    channel = EmailChannel(type="email", host="smtp", sender="lw@example.com", to=["o@example.com"])
    mail = email_message(channel, MESSAGE)
    assert mail["Message-ID"] == "<lw-shop-7-hook@lakeworks>"
    assert mail["To"] == "o@example.com"  # 'ann' has no address
    known = channel.model_copy(update={"contacts": {"ann": "ann@example.com"}})
    assert email_message(known, MESSAGE)["To"] == "ann@example.com, o@example.com"


def test_quiet_hours_wrap_midnight_and_repeats_are_limited() -> None:
    rule = RuleConfig.model_validate(
        {
            "name": "r",
            "objects": {"workspace": True},
            "trigger": {"type": "failed"},
            "channels": ["c"],
            "quiet_hours": "22:00-07:00",
            "max_alerts": 2,
            "min_interval_minutes": 10,
        }
    )
    zone = ZoneInfo("Asia/Shanghai")  # UTC+8
    assert in_quiet_hours(rule, datetime(2026, 5, 4, 15, 0), zone)  # 23:00 local
    assert in_quiet_hours(rule, datetime(2026, 5, 4, 22, 59), zone)  # 06:59 local
    assert not in_quiet_hours(rule, datetime(2026, 5, 4, 23, 0), zone)
    day = datetime(2026, 5, 4, 4, 0)
    assert may_alert(rule, 1, day, day + timedelta(minutes=10), zone)
    assert not may_alert(rule, 1, day, day + timedelta(minutes=9), zone)
    assert not may_alert(rule, 2, day, day + timedelta(hours=1), zone)
