"""Incidents and their messages: one incident per (rule, subject), repeat limits, quiet hours.

All writes take the caller's connection, so an incident, its message and the message's
deliveries commit together with whatever caused them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from lakeworks.alerts.models import RuleConfig, quiet_window
from lakeworks.alerts.tables import alert_deliveries, alert_incidents, alert_messages

OPEN = "open"
CLOSED = "closed"


@dataclass(frozen=True)
class Subject:
    """What an incident is about: an instance, or a baseline period (and event)."""

    key: str
    instance_id: int | None
    summary: str
    owner: str | None = None


def in_quiet_hours(rule: RuleConfig, now: datetime, zone: ZoneInfo) -> bool:
    """Whether ``now`` (aware or UTC-naive) falls in the rule's quiet hours."""
    if rule.quiet_hours is None:
        return False
    start, end = quiet_window(rule.quiet_hours)
    aware = now if now.tzinfo is not None else now.replace(tzinfo=ZoneInfo("UTC"))
    local = aware.astimezone(zone)
    of_day = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second)
    if start <= end:
        return start <= of_day < end
    return of_day >= start or of_day < end


def may_alert(
    rule: RuleConfig,
    sent: int,
    last: datetime | None,
    now: datetime,
    zone: ZoneInfo,
) -> bool:
    """Whether an open incident may send its next alert now."""
    if sent >= rule.max_alerts or in_quiet_hours(rule, now, zone):
        return False
    return last is None or now - last >= timedelta(minutes=rule.min_interval_minutes)


def recipients(rule: RuleConfig, owner: str | None, groups: dict[str, list[str]]) -> list[str]:
    found: list[str] = []
    if rule.recipients.owner and owner:
        found.append(owner)
    found.extend(rule.recipients.users)
    for group in rule.recipients.groups:
        found.extend(groups.get(group, ()))
    return list(dict.fromkeys(found))


class IncidentWriter:
    """Opens, repeats and closes incidents for one workspace environment."""

    def __init__(self, workspace: str, env: str, zone: ZoneInfo) -> None:
        self.workspace = workspace
        self.env = env
        self.zone = zone
        self.messages = 0
        self._open: set[tuple[str, str]] | None = None
        """(rule, subject) of the open incidents, loaded once, then kept up to date."""

    def open_keys(self, conn: sa.Connection) -> set[tuple[str, str]]:
        if self._open is None:
            c = alert_incidents.c
            rows = conn.execute(
                sa.select(c.rule, c.subject).where(
                    c.workspace == self.workspace, c.env == self.env, c.state == OPEN
                )
            )
            self._open = {(rule, subject) for rule, subject in rows}
        return self._open

    def is_open(self, conn: sa.Connection, rule: str, subject: str) -> bool:
        return (rule, subject) in self.open_keys(conn)

    def forget(self) -> None:
        """Reload the open incidents on next use (after a failed transaction)."""
        self._open = None

    def open(
        self,
        conn: sa.Connection,
        rule: RuleConfig,
        trigger: str,
        subject: Subject,
        body: str,
        people: list[str],
        now: datetime,
    ) -> bool:
        """Open (or reopen) the incident of (rule, subject) and alert if allowed.

        Returns False when an open incident already exists (nothing is written).
        """
        known = self.open_keys(conn)
        if (rule.name, subject.key) in known:
            return False
        c = alert_incidents.c
        row = conn.execute(
            sa.select(c.id, c.state).where(
                c.workspace == self.workspace,
                c.env == self.env,
                c.rule == rule.name,
                c.subject == subject.key,
            )
        ).one_or_none()
        if row is not None and row.state == OPEN:
            known.add((rule.name, subject.key))
            return False
        values = {
            "instance_id": subject.instance_id,
            "trigger": trigger,
            "state": OPEN,
            "summary": subject.summary,
            "opened_at": now,
            "closed_at": None,
            "alerts_sent": 0,
            "last_alert_at": None,
        }
        if row is None:
            incident_id = conn.execute(
                sa.insert(alert_incidents)
                .values(
                    workspace=self.workspace,
                    env=self.env,
                    rule=rule.name,
                    subject=subject.key,
                    **values,
                )
                .returning(c.id)
            ).scalar_one()
        else:
            incident_id = row.id
            conn.execute(sa.update(alert_incidents).where(c.id == incident_id).values(values))
        known.add((rule.name, subject.key))
        if may_alert(rule, 0, None, now, self.zone):
            self._message(conn, incident_id, rule, "alert", subject.summary, body, people, now)
        return True

    def repeat_due(
        self,
        conn: sa.Connection,
        rules: dict[str, RuleConfig],
        people_of: Callable[[str], list[str]],
        now: datetime,
    ) -> int:
        """Send the next alert of open incidents whose interval passed (and quiet hours ended)."""
        c = alert_incidents.c
        rows = conn.execute(
            sa.select(c.id, c.rule, c.summary, c.alerts_sent, c.last_alert_at).where(
                c.workspace == self.workspace, c.env == self.env, c.state == OPEN
            )
        ).all()
        sent = 0
        for row in rows:
            rule = rules.get(row.rule)
            if rule is None or not may_alert(
                rule, row.alerts_sent, row.last_alert_at, now, self.zone
            ):
                continue
            nth = row.alerts_sent + 1
            body = f"still open (alert {nth} of at most {rule.max_alerts})"
            people = people_of(row.rule)
            self._message(conn, row.id, rule, "alert", row.summary, body, people, now)
            sent += 1
        return sent

    def close(
        self,
        conn: sa.Connection,
        rules: dict[str, RuleConfig],
        subject_keys: Iterable[str],
        now: datetime,
        note: str,
        people_of: Callable[[str], list[str]],
        only_rules: Iterable[str] | None = None,
    ) -> int:
        """Close the open incidents of these subjects; "recovered" where the rule asks."""
        known = self.open_keys(conn)
        wanted = set(subject_keys)
        keys = sorted({subject for _, subject in known if subject in wanted})
        if not keys:
            return 0
        c = alert_incidents.c
        query = sa.select(c.id, c.rule, c.subject, c.summary, c.alerts_sent).where(
            c.workspace == self.workspace,
            c.env == self.env,
            c.state == OPEN,
            c.subject.in_(keys),
        )
        if only_rules is not None:
            query = query.where(c.rule.in_(list(only_rules)))
        rows = conn.execute(query).all()
        for row in rows:
            conn.execute(
                sa.update(alert_incidents).where(c.id == row.id).values(state=CLOSED, closed_at=now)
            )
            rule = rules.get(row.rule)
            if rule is not None and rule.recovered and row.alerts_sent > 0:
                people = people_of(row.rule)
                title = f"Recovered: {row.summary}"
                self._message(conn, row.id, rule, "recovered", title, note, people, now, False)
        return len(rows)

    def _message(
        self,
        conn: sa.Connection,
        incident_id: int,
        rule: RuleConfig,
        kind: str,
        title: str,
        body: str,
        people: list[str],
        now: datetime,
        count: bool = True,
    ) -> None:
        text = body if not people else f"{body}\nfor: {', '.join(people)}"
        message_id = conn.execute(
            sa.insert(alert_messages)
            .values(incident_id=incident_id, kind=kind, title=title, body=text, created_at=now)
            .returning(alert_messages.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(alert_deliveries),
            [
                {
                    "message_id": message_id,
                    "channel": channel,
                    "recipient": ",".join(people) or None,
                    "idempotency_key": f"lw-{self.workspace}-{message_id}-{channel}",
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "claimed_until": None,
                    "last_error": None,
                    "sent_at": None,
                }
                for channel in rule.channels
            ],
        )
        if count:
            c = alert_incidents.c
            conn.execute(
                sa.update(alert_incidents)
                .where(c.id == incident_id)
                .values(alerts_sent=c.alerts_sent + 1, last_alert_at=now)
            )
        self.messages += 1
