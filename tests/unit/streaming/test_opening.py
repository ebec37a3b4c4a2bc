"""``stream run`` opens a source before the metadata store only when the workspace's
key cannot be needed to open it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lakeworks.spec.loader import load_workspace
from lakeworks.streaming.opening import load_spec, opens_without_key


def _opens_without_key(root: Path, source: dict[str, Any], **config: Any) -> bool:
    (root / "workflows" / "wf").mkdir(parents=True)
    spec = {"source": {"data_source": "events", "topics": ["t"]}, "target": {"table": "ev"}}
    (root / "workflows" / "wf" / "ev.stream.yml").write_text(yaml.safe_dump(spec))
    settings = {"name": "ws", "data_sources": {"events": source}, **config}
    (root / "lakeworks.yml").write_text(yaml.safe_dump(settings))
    workspace = load_workspace(root)
    node = workspace.find_node("wf.ev")
    assert node is not None
    return opens_without_key(workspace, "dev", load_spec(node))


def test_a_plain_kafka_source_into_duckdb_opens_without_the_key(tmp_path: Path) -> None:
    source = {"type": "kafka", "bootstrap_servers": "b:9092", "sasl_password_env": "PW"}
    assert _opens_without_key(tmp_path, source)


def test_an_encrypted_password_waits_for_the_key(tmp_path: Path) -> None:
    source = {"type": "kafka", "bootstrap_servers": "b:9092", "sasl_password_encrypted": "x"}
    assert not _opens_without_key(tmp_path, source)


def test_a_warehouse_other_than_duckdb_waits_for_the_key(tmp_path: Path) -> None:
    source = {"type": "kafka", "bootstrap_servers": "b:9092"}
    engines = {
        "engines": {"spark": {"type": "spark"}},
        "environments": {"dev": {"engine": "spark"}},
    }
    assert not _opens_without_key(tmp_path, source, **engines)
