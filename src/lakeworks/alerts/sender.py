"""The sender loop: claims due deliveries, sends them, records every attempt.

A delivery is claimed for ``CLAIM`` by setting ``claimed_until`` in its own
transaction; a sender that dies (``kill -9``) mid-send leaves the claim to expire and
another pass sends it again with the same idempotency key (at least once). A failed
attempt waits ``BACKOFF * 2^(n-1)`` (capped) and is retried up to ``MAX_ATTEMPTS``
times, then the delivery is ``failed`` and stays in the history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lakeworks.alerts.channels import OutgoingMessage, deliver
from lakeworks.alerts.models import ChannelConfig
from lakeworks.alerts.tables import (
    alert_deliveries,
    alert_delivery_attempts,
    alert_incidents,
    alert_messages,
)
from lakeworks.connectors.credentials import redact
from lakeworks.errors import LakeworksError
from lakeworks.store.database import Database

CLAIM = timedelta(seconds=60)
BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=30)
MAX_ATTEMPTS = 10
BATCH = 50

Channel = tuple[ChannelConfig, str | None]
"""A channel's config and its secret (signing secret or SMTP password)."""
ChannelLookup = Callable[[str, str], Channel | None]
"""``(workspace, channel name) -> channel`` or None when it no longer exists."""


def backoff(attempt: int, base: timedelta = BACKOFF) -> timedelta:
    delay: timedelta = base * (2 ** max(attempt - 1, 0))
    return min(delay, MAX_BACKOFF)


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0


class Sender:
    def __init__(
        self,
        db: Database,
        channels: ChannelLookup,
        *,
        now: Callable[[], datetime] | None = None,
        base_backoff: timedelta = BACKOFF,
        claim: timedelta = CLAIM,
        name: str = "sender",
    ) -> None:
        self.db = db
        self.channels = channels
        self.now = now or (lambda: datetime.now(UTC).replace(tzinfo=None))
        self.base_backoff = base_backoff
        self.claim_for = claim
        self.name = name

    def claim(self, limit: int = BATCH) -> list[int]:
        d = alert_deliveries.c
        at = self.now()
        with self.db.write() as conn:
            ids = list(
                conn.execute(
                    sa.select(d.id)
                    .where(
                        d.state == "pending",
                        d.next_attempt_at <= at,
                        sa.or_(d.claimed_until.is_(None), d.claimed_until < at),
                    )
                    .order_by(d.next_attempt_at, d.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if ids:
                conn.execute(
                    sa.update(alert_deliveries)
                    .where(d.id.in_(ids))
                    .values(claimed_until=at + self.claim_for)
                )
        return ids

    def send_once(self) -> SendReport:
        """Send every due delivery once."""
        report = SendReport()
        for delivery_id in self.claim():
            self._send(delivery_id, report)
        return report

    def _send(self, delivery_id: int, report: SendReport) -> None:
        d, m, i = alert_deliveries.c, alert_messages.c, alert_incidents.c
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(
                    d.channel,
                    d.recipient,
                    d.idempotency_key,
                    d.attempts,
                    m.kind,
                    m.title,
                    m.body,
                    m.created_at,
                    i.id.label("incident_id"),
                    i.workspace,
                    i.rule,
                )
                .join(alert_messages, m.id == d.message_id)
                .join(alert_incidents, i.id == m.incident_id)
                .where(d.id == delivery_id)
            ).one()
        attempt = row.attempts + 1
        message = OutgoingMessage(
            idempotency_key=row.idempotency_key,
            kind=row.kind,
            title=row.title,
            body=row.body,
            rule=row.rule,
            incident_id=row.incident_id,
            created_at=row.created_at.replace(tzinfo=UTC),
            mentions=tuple(p for p in (row.recipient or "").split(",") if p),
        )
        ok, detail = False, ""
        try:
            channel = self.channels(row.workspace, row.channel)
            if channel is None:
                detail = f"channel '{row.channel}' does not exist"
            else:
                config, secret = channel
                detail = deliver(config, message, secret, datetime.now(UTC))
                ok = True
        except LakeworksError as exc:
            detail = exc.message
        except Exception as exc:  # a bug in one delivery must not stop the others
            detail = f"{type(exc).__name__}: {exc}"
        self._record(delivery_id, attempt, ok, redact(detail), report)

    def _record(
        self, delivery_id: int, attempt: int, ok: bool, detail: str, report: SendReport
    ) -> None:
        at = self.now()
        d = alert_deliveries.c
        if ok:
            values: dict[str, object] = {"state": "sent", "sent_at": at, "last_error": None}
            report.sent += 1
        elif attempt >= MAX_ATTEMPTS:
            values = {"state": "failed", "last_error": detail}
            report.failed += 1
        else:
            values = {
                "next_attempt_at": at + backoff(attempt, self.base_backoff),
                "last_error": detail,
            }
            report.retrying += 1
        with self.db.write() as conn:
            conn.execute(
                sa.insert(alert_delivery_attempts).values(
                    delivery_id=delivery_id, number=attempt, at=at, ok=ok, detail=detail
                )
            )
            conn.execute(
                sa.update(alert_deliveries)
                .where(d.id == delivery_id)
                .values(attempts=attempt, claimed_until=None, **values)
            )

    def run(
        self, stop: threading.Event, interval: float = 1.0, log: Callable[[str], None] | None = None
    ) -> None:
        """Send until ``stop`` is set."""
        while not stop.is_set():
            try:
                report = self.send_once()
            except LakeworksError as exc:
                if log:
                    log(f"alert sender: {exc.render()}")
            except Exception as exc:  # keep sending after a store hiccup
                if log:
                    log(f"alert sender: {type(exc).__name__}: {redact(str(exc))}")
            else:
                if log and (report.sent or report.failed):
                    log(f"alerts sent {report.sent}, failed {report.failed}")
            stop.wait(interval)
