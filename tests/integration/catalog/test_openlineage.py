"""OpenLineage events: built from lineage, valid against the schema, sent to HTTP or file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from lakeworks.catalog.openlineage import (
    Datasets,
    Emitter,
    EmitterConfig,
    RunInfo,
    run_event,
    validate,
)
from lakeworks.errors import TransientError, UserError
from lakeworks.sql.lineage import script_lineage
from tests.services import free_port

AT = datetime(2026, 4, 2, 2, 0, 5)
RUN = RunInfo(
    workspace="sales-lab",
    env="dev",
    node_key="sales_pipeline.02_build_sales_daily",
    instance_id=42,
    nominal_time=datetime(2026, 4, 2, 2, 0),
    description="Daily revenue",
    sql="INSERT OVERWRITE TABLE sales_daily SELECT ...",
    dialect="maxcompute",
)


def datasets() -> Datasets:
    lineage = script_lineage(
        "INSERT OVERWRITE TABLE dws_daily PARTITION (ds='20260401') "
        "SELECT o.day, SUM(o.amount) AS revenue, c.city FROM dwd_orders o "
        "JOIN dim_city c ON o.city_id = c.id WHERE o.status = 'paid' GROUP BY o.day, c.city"
    )
    return Datasets(
        inputs=sorted(lineage.reads),
        outputs=sorted(lineage.writes),
        edges=sorted(lineage.column_edges),
        filters={(ref, s.target) for s in lineage.statements if s.target for ref in s.filters},
        schemas={"dws_daily": [("day", "STRING"), ("revenue", "DOUBLE"), ("city", None)]},
    )


def test_start_complete_and_fail_events_validate_against_the_schema() -> None:
    for event_type, error in (("START", None), ("COMPLETE", None), ("FAIL", "boom")):
        event = run_event(event_type, RUN, datasets(), at=AT, error=error)
        assert validate(event) == [], event_type


def test_event_carries_datasets_and_the_column_lineage_facet() -> None:
    event = run_event("COMPLETE", RUN, datasets(), at=AT)

    assert event["eventTime"] == "2026-04-02T02:00:05.000Z"
    assert event["job"] == {
        "namespace": "lakeworks://sales-lab",
        "name": "sales_pipeline.02_build_sales_daily",
        "facets": event["job"]["facets"],
    }
    assert event["job"]["facets"]["sql"]["query"].startswith("INSERT OVERWRITE")
    assert [d["name"] for d in event["inputs"]] == ["dim_city", "dwd_orders"]
    [output] = event["outputs"]
    assert output["namespace"] == "lakeworks://sales-lab/dev"
    facet = output["facets"]["columnLineage"]
    revenue = facet["fields"]["revenue"]["inputFields"]
    assert revenue == [
        {
            "namespace": "lakeworks://sales-lab/dev",
            "name": "dwd_orders",
            "field": "amount",
            "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION", "masking": False}],
        }
    ]
    assert facet["fields"]["city"]["inputFields"][0]["transformations"][0]["subtype"] == (
        "IDENTITY"
    )
    filters = {(f["name"], f["field"]) for f in facet["dataset"]}
    assert filters == {
        ("dwd_orders", "status"),
        ("dwd_orders", "city_id"),
        ("dwd_orders", "day"),
        ("dim_city", "id"),
        ("dim_city", "city"),
    }
    assert output["facets"]["schema"]["fields"][2] == {"name": "city"}


def test_start_and_end_of_one_attempt_share_a_run_id() -> None:
    start = run_event("START", RUN, Datasets(), at=AT)
    end = run_event("COMPLETE", RUN, Datasets(), at=AT)
    assert start["run"]["runId"] == end["run"]["runId"]
    retry = RunInfo(**{**RUN.__dict__, "attempt": 2})
    assert run_event("START", retry, Datasets(), at=AT)["run"]["runId"] != start["run"]["runId"]


def test_validation_catches_a_broken_event() -> None:
    event = run_event("COMPLETE", RUN, datasets(), at=AT)
    del event["run"]["runId"]
    event["eventType"] = "DONE"
    event["outputs"][0]["facets"]["columnLineage"]["fields"]["revenue"]["inputFields"][0].pop(
        "field"
    )
    problems = validate(event)
    assert any("runId" in p for p in problems)
    assert any("DONE" in p for p in problems)
    assert any("'field' is a required property" in p for p in problems)


def test_data_source_tables_get_their_own_namespace() -> None:
    event = run_event("COMPLETE", RUN, Datasets(inputs=["shop_pg:orders"]), at=AT)
    assert event["inputs"][0]["namespace"] == "lakeworks://sales-lab/sources/shop_pg"
    assert event["inputs"][0]["name"] == "orders"


def test_file_emitter_appends_one_json_document_per_line(tmp_path: Path) -> None:
    path = tmp_path / "ol" / "events.jsonl"
    emitter = Emitter(EmitterConfig(file=path))
    emitter.emit(run_event("START", RUN, Datasets(), at=AT))
    emitter.emit(run_event("COMPLETE", RUN, Datasets(), at=AT))
    lines = path.read_text().splitlines()
    assert [json.loads(x)["eventType"] for x in lines] == ["START", "COMPLETE"]


class _Collector(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 201

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("Collector", (_Collector,), {"received": [], "status": 201})
    server = HTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1/lineage", handler
    finally:
        server.shutdown()
        server.server_close()


def test_http_emitter_posts_valid_events(endpoint: tuple[str, type[_Collector]]) -> None:
    url, handler = endpoint
    Emitter(EmitterConfig(url=url)).emit(run_event("COMPLETE", RUN, datasets(), at=AT))
    [event] = handler.received
    assert event["eventType"] == "COMPLETE"
    assert validate(event) == []


def test_http_errors_are_transient(endpoint: tuple[str, type[_Collector]]) -> None:
    url, handler = endpoint
    handler.status = 503
    with pytest.raises(TransientError, match="answered 503"):
        Emitter(EmitterConfig(url=url)).emit(run_event("START", RUN, Datasets(), at=AT))
    with pytest.raises(TransientError, match="unreachable"):
        Emitter(EmitterConfig(url=f"http://127.0.0.1:{free_port()}/x", timeout_seconds=1)).emit(
            run_event("START", RUN, Datasets(), at=AT)
        )


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEWORKS_OPENLINEAGE_URL", raising=False)
    monkeypatch.delenv("LAKEWORKS_OPENLINEAGE_FILE", raising=False)
    assert EmitterConfig.from_env() is None
    monkeypatch.setenv("LAKEWORKS_OPENLINEAGE_FILE", "/tmp/x.jsonl")
    config = EmitterConfig.from_env()
    assert config is not None and config.file == Path("/tmp/x.jsonl") and config.url is None
    monkeypatch.setenv("LAKEWORKS_OPENLINEAGE_URL", "localhost:5000")
    with pytest.raises(UserError, match="must be an http"):
        EmitterConfig.from_env()
