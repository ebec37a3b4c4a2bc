"""Reading ``alerts/*.yml`` of a workspace into one checked ``AlertSet``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lakeworks.alerts.models import (
    BASELINE_TRIGGERS,
    AlertFile,
    BaselineConfig,
    ChannelConfig,
    RuleConfig,
)
from lakeworks.errors import Location, UserError, ValidationFailed
from lakeworks.spec.models import Workspace
from lakeworks.spec.yaml_source import parse_yaml, validate_model

ALERTS_FOLDER = "alerts"


@dataclass
class AlertSet:
    """Every channel, group, contact, rule and baseline of a workspace."""

    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    contacts: dict[str, str] = field(default_factory=dict)
    rules: dict[str, RuleConfig] = field(default_factory=dict)
    baselines: dict[str, BaselineConfig] = field(default_factory=dict)
    where: dict[str, Location] = field(default_factory=dict)
    """``"rule:<name>"`` / ``"baseline:<name>"`` / ``"channel:<name>"`` -> its file and line."""


def find_alert_files(root: Path) -> list[Path]:
    folder = root / ALERTS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def load_alert_text(text: str, path: Path | str, into: AlertSet | None = None) -> AlertSet:
    """Add the content of one alert file to ``into`` (a new set by default)."""
    found = into if into is not None else AlertSet()
    data, lines = parse_yaml(text, path)
    parsed = validate_model(AlertFile, data, lines)
    problems: list[UserError] = []

    def add(kind: str, name: str, keys: tuple[str | int, ...]) -> bool:
        where = lines.location(keys)
        previous = found.where.get(f"{kind}:{name}")
        if previous is not None:
            problems.append(
                UserError(
                    f"{kind} '{name}' is defined twice",
                    location=where,
                    hint=f"the other one is at {previous}",
                )
            )
            return False
        found.where[f"{kind}:{name}"] = where
        return True

    for name, channel in parsed.channels.items():
        if add("channel", name, ("channels", name)):
            found.channels[name] = channel
    for name, members in parsed.groups.items():
        if add("group", name, ("groups", name)):
            found.groups[name] = members
    found.contacts.update(parsed.contacts)
    for i, rule in enumerate(parsed.rules):
        if add("rule", rule.name, ("rules", i)):
            found.rules[rule.name] = rule
    for i, baseline in enumerate(parsed.baselines):
        if add("baseline", baseline.name, ("baselines", i)):
            found.baselines[baseline.name] = baseline
    _raise(problems)
    return found


def load_alerts(files: Iterable[Path]) -> AlertSet:
    """Every alert file, all problems at once (``ValidationFailed``)."""
    found = AlertSet()
    problems: list[UserError] = []
    for path in files:
        try:
            load_alert_text(path.read_text(encoding="utf-8"), path, found)
        except ValidationFailed as exc:
            problems.extend(exc.errors)
        except UserError as exc:
            problems.append(exc)
    _raise(problems)
    return found


def check_references(
    found: AlertSet,
    node_keys: Iterable[str],
    workflows: Iterable[str],
    resource_groups: Iterable[str],
    extra_rules: Mapping[str, RuleConfig] | None = None,
) -> list[UserError]:
    """Problems of names that point nowhere (channels, groups, nodes, baselines)."""
    nodes, flows, groups = set(node_keys), set(workflows), set(resource_groups)
    problems: list[UserError] = []

    def unknown(
        what: str, name: str, where: Location | None, choices: Iterable[str], key: str = ""
    ) -> None:
        # a rule of a file is shown at its line; one sent through the API at its key
        known = ", ".join(sorted(choices)) or "none"
        location = where or (Location(key=key) if key else None)
        problems.append(
            UserError(f"unknown {what} '{name}'", location=location, hint=f"known: {known}")
        )

    for baseline in found.baselines.values():
        where = found.where.get(f"baseline:{baseline.name}")
        for key in baseline.nodes:
            if key not in nodes:
                unknown("node", key, where, [])
    rules = dict(found.rules)
    rules.update(extra_rules or {})
    for rule in rules.values():
        where = found.where.get(f"rule:{rule.name}")
        for name in rule.channels:
            if name not in found.channels:
                unknown("channel", name, where, found.channels, "channels")
        for name in rule.recipients.groups:
            if name not in found.groups:
                unknown("group", name, where, found.groups, "recipients.groups")
        for key in rule.objects.nodes:
            if key not in nodes:
                unknown("node", key, where, [], "objects.nodes")
        for key in rule.objects.exclude:
            if key not in nodes:
                unknown("node", key, where, [], "objects.exclude")
        for name in rule.objects.workflows:
            if name not in flows:
                unknown("workflow", name, where, flows, "objects.workflows")
        for name in rule.objects.resource_groups:
            if name not in groups:
                unknown("resource group", name, where, groups, "objects.resource_groups")
        for name in rule.objects.baselines:
            if name not in found.baselines:
                unknown("baseline", name, where, found.baselines, "objects.baselines")
        watches_baselines = rule.objects.baselines or rule.objects.workspace
        if rule.trigger.type in BASELINE_TRIGGERS and not watches_baselines:
            problems.append(
                UserError(
                    f"rule '{rule.name}': a {rule.trigger.type.value} trigger needs"
                    " objects.baselines (or workspace: true for every baseline)",
                    location=where or Location(key="objects.baselines"),
                )
            )
    return problems


def load_workspace_alerts(workspace: Workspace) -> AlertSet:
    """The checked alert set of ``workspace``; raises ``ValidationFailed``."""
    found = load_alerts(find_alert_files(workspace.root))
    problems = check_references(
        found,
        (n.key for n in workspace.nodes()),
        workspace.workflows,
        workspace.config.resource_groups,
    )
    _raise(problems)
    return found


def _raise(problems: list[UserError]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ValidationFailed(problems)
