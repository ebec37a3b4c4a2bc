"""Alert rules, channels and baselines as written in ``alerts/*.yml`` (or sent to the API)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from lakeworks.schedule.baselines import parse_offset
from lakeworks.spec.models import Strict


class TriggerType(StrEnum):
    FAILED = "failed"
    """Any failed attempt (also one that will be retried)."""
    RETRIES_EXHAUSTED = "retries_exhausted"
    SUCCEEDED = "succeeded"
    NOT_FINISHED_BY = "not_finished_by"
    """Not finished by ``at`` (hh:mm, hour up to 47) of the cycle's local day."""
    CYCLE_OVERDUE = "cycle_overdue"
    """Not finished ``minutes`` after its own cycle time."""
    RUN_TIME_OVER = "run_time_over"
    """Running longer than ``minutes``, or ``factor`` times its recent average."""
    QUALITY_FAILED = "quality_failed"
    DIRTY_ROWS_OVER = "dirty_rows_over"
    QUEUE_WAITING_OVER = "queue_waiting_over"
    """Waiting for resources longer than ``minutes``."""
    BASELINE_WARNING = "baseline_warning"
    BASELINE_BREACHED = "baseline_breached"
    BASELINE_EVENT = "baseline_event"
    """A failed or slow instance on a baseline's key path."""


INSTANCE_TRIGGERS = frozenset(
    {
        TriggerType.FAILED,
        TriggerType.RETRIES_EXHAUSTED,
        TriggerType.SUCCEEDED,
        TriggerType.QUALITY_FAILED,
        TriggerType.DIRTY_ROWS_OVER,
    }
)
"""Triggers decided when an instance changes state (from the signal outbox)."""
TIME_TRIGGERS = frozenset(
    {
        TriggerType.NOT_FINISHED_BY,
        TriggerType.CYCLE_OVERDUE,
        TriggerType.RUN_TIME_OVER,
        TriggerType.QUEUE_WAITING_OVER,
    }
)
"""Triggers decided by looking at live instances on every pass."""
BASELINE_TRIGGERS = frozenset(
    {TriggerType.BASELINE_WARNING, TriggerType.BASELINE_BREACHED, TriggerType.BASELINE_EVENT}
)


class TriggerConfig(Strict):
    type: TriggerType
    at: str | None = None
    minutes: float | None = Field(default=None, gt=0)
    factor: float | None = Field(default=None, gt=1)
    strength: Literal["strong", "weak", "any"] = "any"
    count: int | None = Field(default=None, ge=0)

    @field_validator("at")
    @classmethod
    def _at(cls, value: str | None) -> str | None:
        if value is not None:
            parse_offset(value)
        return value

    @model_validator(mode="after")
    def _needs(self) -> TriggerConfig:
        t = self.type
        if t is TriggerType.NOT_FINISHED_BY and self.at is None:
            raise ValueError("not_finished_by needs 'at' (hh:mm, hour up to 47)")
        if t in (TriggerType.CYCLE_OVERDUE, TriggerType.QUEUE_WAITING_OVER) and not self.minutes:
            raise ValueError(f"{t.value} needs 'minutes'")
        if t is TriggerType.RUN_TIME_OVER and (self.minutes is None) == (self.factor is None):
            raise ValueError("run_time_over needs exactly one of 'minutes' or 'factor'")
        if t is TriggerType.DIRTY_ROWS_OVER and self.count is None:
            raise ValueError("dirty_rows_over needs 'count'")
        return self

    @property
    def deadline(self) -> timedelta | None:
        return None if self.at is None else parse_offset(self.at)


class ObjectsConfig(Strict):
    """What a rule watches; empty lists mean nothing of that kind."""

    workspace: bool = False
    nodes: list[str] = Field(default_factory=list)
    """Node keys (``workflow.node``)."""
    workflows: list[str] = Field(default_factory=list)
    baselines: list[str] = Field(default_factory=list)
    resource_groups: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    """Node keys never alerted on."""

    @model_validator(mode="after")
    def _some(self) -> ObjectsConfig:
        if not (
            self.workspace or self.nodes or self.workflows or self.baselines or self.resource_groups
        ):
            raise ValueError(
                "a rule watches nothing: give workspace: true, nodes, workflows, baselines"
                " or resource_groups"
            )
        return self


class RecipientsConfig(Strict):
    owner: bool = False
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class RuleConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    objects: ObjectsConfig
    trigger: TriggerConfig
    channels: list[str] = Field(min_length=1)
    recipients: RecipientsConfig = Field(default_factory=RecipientsConfig)
    max_alerts: int = Field(default=3, ge=1, le=10)
    min_interval_minutes: float = Field(default=30, ge=0)
    quiet_hours: str | None = None
    """``"22:00-07:00"`` in the workspace's time zone: alerts wait until it ends."""
    recovered: bool = False
    """Send a "recovered" message when the incident closes."""
    enabled: bool = True

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            quiet_window(value)
        return value


def quiet_window(text: str) -> tuple[timedelta, timedelta]:
    """``"hh:mm-hh:mm"`` as two offsets from midnight (the window may wrap midnight)."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"expected quiet hours as hh:mm-hh:mm, got {text!r}")
    a, b = parse_offset(start), parse_offset(end)
    if a >= timedelta(days=1) or b >= timedelta(days=1):
        raise ValueError(f"quiet hours are within one day (hour 0-23), got {text!r}")
    return a, b


class WebhookFormat(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    WECOM = "wecom"


class SecretRef(Strict):
    secret_env: str | None = None
    secret_encrypted: str | None = None


class WebhookChannel(SecretRef):
    """A webhook in one of the ``WebhookFormat`` formats; ``secret_*`` signs it."""

    type: Literal["webhook", "slack", "dingtalk", "feishu", "wecom"]
    url: str = Field(pattern=r"^https?://")
    timeout_seconds: float = Field(default=10, gt=0)


class EmailChannel(SecretRef):
    """SMTP; ``secret_*`` is the password. ``tls``: ``starttls``, ``ssl`` or ``none``."""

    type: Literal["email"]
    host: str
    port: int = Field(default=25, gt=0, lt=65536)
    tls: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    sender: str
    to: list[str] = Field(default_factory=list)
    contacts: dict[str, str] = Field(default_factory=dict)
    """User name -> address for this channel (the file's ``contacts`` are added)."""
    timeout_seconds: float = Field(default=10, gt=0)


ChannelConfig = Annotated[WebhookChannel | EmailChannel, Field(discriminator="type")]


class BaselineConfig(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    nodes: list[str] = Field(min_length=1)
    """Key node keys (``workflow.node``)."""
    priority: int = Field(default=1, ge=1, le=9)
    finish: str
    """Committed finish: hh:mm (hour up to 47) after the local day start, or for hourly
    baselines minutes after each hour as ``00:mm``."""
    margin_minutes: float = Field(default=30, ge=0)
    period: Literal["daily", "hourly"] = "daily"

    @field_validator("finish")
    @classmethod
    def _finish(cls, value: str) -> str:
        parse_offset(value)
        return value

    @property
    def offset(self) -> timedelta:
        return parse_offset(self.finish)

    @property
    def margin(self) -> timedelta:
        return timedelta(minutes=self.margin_minutes)


class AlertFile(Strict):
    """One ``alerts/*.yml`` file."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    groups: dict[str, list[str]] = Field(default_factory=dict)
    contacts: dict[str, str] = Field(default_factory=dict)
    """User name -> e-mail address."""
    rules: list[RuleConfig] = Field(default_factory=list)
    baselines: list[BaselineConfig] = Field(default_factory=list)
