"""docs/settings.md is generated from the config models and must be current."""

from __future__ import annotations

from pathlib import Path

from lakeworks.spec.models import NodeHeader, ScheduleSpec, WorkflowConfig
from lakeworks.spec.reference import description, reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_the_settings_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == reference(), (
        "docs/settings.md is stale: run python -m lakeworks.spec.reference docs/settings.md"
    )


def test_every_key_is_documented_with_a_meaning() -> None:
    text = reference()
    for model in (WorkflowConfig, NodeHeader, ScheduleSpec):
        for name in model.model_fields:
            assert description(model, name), f"{model.__name__}.{name} has no docstring"
            assert f"| `{name}` |" in text
    assert "| `self_dependency` | true/false | `false` |" in text
