"""From a failed instance to a delivered alert: outbox, incidents, webhooks, e-mail."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from lakeworks.alerts.plugin import channel_lookup
from lakeworks.alerts.sender import MAX_ATTEMPTS, Sender
from lakeworks.alerts.service import AlertStore
from lakeworks.alerts.tables import alert_signals
from lakeworks.store import observers
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState as S
from tests.integration.alerts.conftest import DAY, World, make_world
from tests.integration.alerts.receiver import Receiver

RULES = """
channels:
  hook: {{type: webhook, url: "{url}/hook", secret_env: ISSUE17_HOOK_SECRET}}
  slack: {{type: slack, url: "{url}/slack"}}
groups:
  oncall: [bob, carol]
rules:
  - name: exhausted
    objects: {{workspace: true, exclude: [wf.ods]}}
    trigger: {{type: retries_exhausted}}
    channels: [hook, slack]
    recipients: {{owner: true, groups: [oncall]}}
    max_alerts: 2
    min_interval_minutes: 10
    recovered: true
  - name: any_failure
    objects: {{nodes: [wf.ods]}}
    trigger: {{type: failed}}
    channels: [hook]
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    r.url = r.start()  # type: ignore[attr-defined]
    yield r
    r.stop()


def world(db: Database, tmp_path: Path, receiver: Receiver) -> World:
    return make_world(db, tmp_path / "ws", RULES.format(url=receiver.url))  # type: ignore[attr-defined]


def fail(w: World, index: int, reason: str = "boom") -> None:
    iid = w.chain[index].id
    w.repo.transition(iid, S.RUNNING)
    w.repo.transition(iid, S.FAILED, reason=reason, attempts=2)


def sender(w: World, at: list[Any]) -> Sender:
    return Sender(
        w.db,
        channel_lookup(w.db, lambda name: w.workspace if name == w.workspace.name else None),
        now=lambda: at[0],
        base_backoff=timedelta(seconds=1),
    )


def send_all(s: Sender, at: list[Any], rounds: int = 6) -> None:
    for _ in range(rounds):
        s.send_once()
        at[0] += timedelta(seconds=5)


def test_a_failure_reaches_the_webhook_after_failed_attempts_with_one_key(
    db: Database, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISSUE17_HOOK_SECRET", "s3cret-hook-key")
    w = world(db, tmp_path, receiver)
    fail(w, 2)
    with db.read() as conn:  # the signal was written with the state change
        assert conn.execute(sa.select(sa.func.count()).select_from(alert_signals)).scalar() == 1
    report = w.evaluator().run_once(DAY + timedelta(minutes=5))
    assert (report.signals, report.opened) == (1, 1)
    at = [DAY + timedelta(minutes=5)]
    send_all(sender(w, at), at)
    by_path = {r.path: r for r in receiver.requests}
    assert set(by_path) == {"/hook", "/slack"}
    hook = by_path["/hook"]
    assert hook.body["kind"] == "alert" and hook.body["rule"] == "exhausted"
    assert "wf.ads 2026-05-04 01:00" in hook.body["title"]
    assert "failed after 2 attempt(s) (boom)" in hook.body["title"]
    assert hook.body["recipients"] == ["alice", "bob", "carol"]
    key = hook.headers["Idempotency-Key"]
    assert key == hook.body["idempotency_key"]
    stamp = hook.headers["X-Lakeworks-Timestamp"]
    raw = stamp.encode() + b"." + _canonical(hook.body)
    signed = hmac.new(b"s3cret-hook-key", raw, hashlib.sha256).hexdigest()
    assert hook.headers["X-Lakeworks-Signature"] == f"sha256={signed}"
    assert "@alice" in by_path["/slack"].body["text"]
    (alert,) = AlertStore(db).alerts(w.workspace.name, "prod")
    attempts = [[a.ok for a in d.attempts] for d in alert.deliveries]
    assert sum(ok.count(False) for ok in attempts) == 2  # the receiver's two 503s
    assert all(ok[-1] and all(not x for x in ok[:-1]) for ok in attempts)
    assert all(d.state == "sent" for d in alert.deliveries)
    failed = [a for d in alert.deliveries for a in d.attempts if not a.ok]
    assert all("HTTP 503" in (a.detail or "") for a in failed)


def _canonical(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body, ensure_ascii=False).encode()


def test_one_incident_per_instance_repeats_up_to_the_limit_and_recovers(
    db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    w = world(db, tmp_path, receiver)
    fail(w, 1)
    ev = w.evaluator()
    t0 = DAY + timedelta(minutes=5)
    ev.run_once(t0)
    w.repo.transition(w.chain[1].id, S.RUNNING)
    w.repo.transition(w.chain[1].id, S.FAILED, reason="again")
    assert ev.run_once(t0 + timedelta(minutes=1)).opened == 0  # still one incident
    assert ev.run_once(t0 + timedelta(minutes=5)).repeated == 0  # too soon
    assert ev.run_once(t0 + timedelta(minutes=11)).repeated == 1
    assert ev.run_once(t0 + timedelta(minutes=40)).repeated == 0  # max_alerts 2
    (incident,) = AlertStore(db).incidents(w.workspace.name, "prod")
    assert (incident.state, incident.alerts_sent) == ("open", 2)
    w.repo.transition(w.chain[1].id, S.RUNNING)
    w.repo.transition(w.chain[1].id, S.SUCCESS)
    assert ev.run_once(t0 + timedelta(minutes=50)).closed == 1
    (incident,) = AlertStore(db).incidents(w.workspace.name, "prod")
    assert incident.state == "closed"
    kinds = [a.kind for a in AlertStore(db).alerts(w.workspace.name, "prod")]
    assert kinds == ["recovered", "alert", "alert"]


def test_a_retried_attempt_alerts_only_the_rule_for_any_failure(
    sqlite_db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    w = world(sqlite_db, tmp_path, receiver)
    ods = w.chain[0].id
    w.repo.transition(ods, S.RUNNING)
    w.repo.transition(ods, S.WAITING_TIME, reason="exit 1")
    w.evaluator().run_once(DAY + timedelta(minutes=1))
    (incident,) = AlertStore(sqlite_db).incidents(w.workspace.name, "prod")
    assert incident.rule == "any_failure"
    assert "attempt 0 failed, will be retried (exit 1)" in incident.summary


def test_the_outbox_row_commits_or_rolls_back_with_the_state_change(
    sqlite_db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    w = world(sqlite_db, tmp_path, receiver)

    def broken(_conn: sa.Connection, _rows: observers.EventRows) -> None:
        raise RuntimeError("disk full")

    w.repo.transition(w.chain[2].id, S.RUNNING)
    observers.register(broken)
    try:
        with pytest.raises(RuntimeError):
            w.repo.transition(w.chain[2].id, S.FAILED, reason="boom")
    finally:
        observers.unregister(broken)
    assert w.repo.get(w.chain[2].id).state is S.RUNNING
    with sqlite_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alert_signals)).scalar() == 0


def test_quiet_hours_hold_the_first_alert_until_they_end(
    sqlite_db: Database, tmp_path: Path
) -> None:
    yml = """
    channels:
      hook: {type: webhook, url: "http://127.0.0.1:9/x"}
    rules:
      - name: nightly
        objects: {workflows: [wf]}
        trigger: {type: retries_exhausted}
        channels: [hook]
        quiet_hours: "00:00-07:00"
    """
    w = make_world(sqlite_db, tmp_path / "ws", yml)
    fail(w, 0)
    ev = w.evaluator()
    ev.run_once(DAY + timedelta(hours=1))  # 02:00 UTC: quiet
    assert AlertStore(sqlite_db).alerts(w.workspace.name, "prod") == []
    assert ev.run_once(DAY + timedelta(hours=6, minutes=1)).repeated == 1
    (alert,) = AlertStore(sqlite_db).alerts(w.workspace.name, "prod")
    assert alert.created_at == DAY + timedelta(hours=6, minutes=1)


def test_a_channel_that_never_answers_ends_failed_without_leaking_its_secret(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ISSUE17_DING", "ding-signing-secret")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    yml = f"""
    channels:
      ding: {{type: dingtalk, url: "http://127.0.0.1:{port}/robot/send?access_token=tok-123456",
              secret_env: ISSUE17_DING}}
    rules:
      - name: r
        objects: {{workspace: true}}
        trigger: {{type: retries_exhausted}}
        channels: [ding]
    """
    w = make_world(sqlite_db, tmp_path / "ws", yml)
    fail(w, 0)
    w.evaluator().run_once(DAY)
    at = [DAY]
    s = sender(w, at)
    for _ in range(MAX_ATTEMPTS + 2):
        s.send_once()
        at[0] += timedelta(hours=1)
    ((delivery,),) = [a.deliveries for a in AlertStore(sqlite_db).alerts(w.workspace.name, "prod")]
    assert delivery.state == "failed" and len(delivery.attempts) == MAX_ATTEMPTS
    details = " ".join(a.detail or "" for a in delivery.attempts)
    assert "robot/send" in details
    assert "tok-123456" not in details and "ding-signing-secret" not in details


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def test_email_over_smtp(sqlite_db: Database, tmp_path: Path) -> None:
    inbox = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yml = f"""
        channels:
          mail: {{type: email, host: 127.0.0.1, port: {port}, sender: lakeworks@example.com,
                 to: [ops@example.com]}}
        contacts: {{alice: alice@example.com}}
        rules:
          - name: mail_me
            objects: {{workspace: true}}
            trigger: {{type: retries_exhausted}}
            channels: [mail]
            recipients: {{users: [alice, bob]}}  # alice has an address, bob none
        """
        w = make_world(sqlite_db, tmp_path / "ws", yml)
        fail(w, 0, reason="disk quota")
        w.evaluator().run_once(DAY)
        at = [DAY]
        sender(w, at).send_once()
        deadline = time.monotonic() + 10
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        controller.stop()
    (envelope,) = inbox.messages
    assert sorted(envelope.rcpt_tos) == ["alice@example.com", "ops@example.com"]
    text = envelope.content.decode()
    assert "failed after 2 attempt(s) (disk quota)" in text
    assert "X-Lakeworks-Idempotency-Key: lw-shop-" in text
