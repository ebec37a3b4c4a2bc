"""OpenLineage events for every instance: START, then COMPLETE or FAIL.

Each event names the node as the job, the tables read and written as input and output
datasets, and carries the column-lineage facet on every output (direct copies as
``DIRECT/IDENTITY``, computed values as ``DIRECT/TRANSFORMATION``, filter and join
columns as dataset-wide ``INDIRECT/FILTER``). Events go to an HTTP endpoint (POST of
the JSON) or are appended to a file, one JSON document per line.

Configuration: ``LAKEWORKS_OPENLINEAGE_URL`` (the full endpoint, e.g. a Marquez
``…/api/v1/lineage``) and/or ``LAKEWORKS_OPENLINEAGE_FILE``.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakeworks import __version__
from lakeworks.errors import TransientError, UserError
from lakeworks.sql.lineage import ColumnEdge, ColumnRef, EdgeKind

PRODUCER = f"https://github.com/lakeworks/lakeworks/tree/v{__version__}"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET_SCHEMAS = {
    "columnLineage": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json"
    "#/$defs/ColumnLineageDatasetFacet",
    "schema": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json"
    "#/$defs/SchemaDatasetFacet",
    "sql": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet",
    "documentation": "https://openlineage.io/spec/facets/1-1-0/DocumentationJobFacet.json"
    "#/$defs/DocumentationJobFacet",
    "nominalTime": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json"
    "#/$defs/NominalTimeRunFacet",
    "errorMessage": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json"
    "#/$defs/ErrorMessageRunFacet",
}
SCHEMA_FILE = Path(__file__).parent / "schemas" / "openlineage-run-event.schema.json"
"""A JSON Schema of the events, for validating them offline."""

ENV_URL = "LAKEWORKS_OPENLINEAGE_URL"
ENV_FILE = "LAKEWORKS_OPENLINEAGE_FILE"


@dataclass(frozen=True)
class RunInfo:
    """What an event says about one instance run."""

    workspace: str
    env: str
    node_key: str
    instance_id: int
    attempt: int = 1
    nominal_time: datetime | None = None
    description: str | None = None
    sql: str | None = None
    dialect: str | None = None

    @property
    def run_id(self) -> str:
        """A stable UUID per instance attempt, shared by its START and end events."""
        name = f"lakeworks:{self.workspace}:{self.env}:{self.instance_id}:{self.attempt}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


@dataclass(frozen=True)
class Datasets:
    """Inputs and outputs of a run, with column lineage and known schemas."""

    inputs: Sequence[str] = ()
    outputs: Sequence[str] = ()
    edges: Sequence[ColumnEdge] = ()
    filters: Iterable[tuple[ColumnRef, str]] = ()
    schemas: Mapping[str, Sequence[tuple[str, str | None]]] | None = None


def namespace_of(table: str, workspace: str, env: str) -> tuple[str, str]:
    """(namespace, name) of a table: the warehouse of ``env``, or a data source."""
    if ":" in table:
        source, _, name = table.partition(":")
        return f"lakeworks://{workspace}/sources/{source}", name
    return f"lakeworks://{workspace}/{env}", table


def _facet(kind: str, producer: str, **values: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": FACET_SCHEMAS[kind], **values}


def run_event(
    event_type: str,
    run: RunInfo,
    datasets: Datasets,
    *,
    at: datetime,
    error: str | None = None,
    producer: str = PRODUCER,
) -> dict[str, Any]:
    """One OpenLineage ``RunEvent`` as a JSON-ready dict."""
    run_facets: dict[str, Any] = {}
    if run.nominal_time is not None:
        run_facets["nominalTime"] = _facet(
            "nominalTime", producer, nominalStartTime=_iso(run.nominal_time)
        )
    if error is not None:
        run_facets["errorMessage"] = _facet(
            "errorMessage", producer, message=error, programmingLanguage="SQL"
        )
    job_facets: dict[str, Any] = {}
    if run.sql:
        job_facets["sql"] = _facet("sql", producer, query=run.sql, dialect=run.dialect or "")
    if run.description:
        job_facets["documentation"] = _facet("documentation", producer, description=run.description)
    event: dict[str, Any] = {
        "eventType": event_type,
        "eventTime": _iso(at),
        "producer": producer,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": {"runId": run.run_id, "facets": run_facets},
        "job": {
            "namespace": f"lakeworks://{run.workspace}",
            "name": run.node_key,
            "facets": job_facets,
        },
        "inputs": [_dataset(t, run, datasets, producer, output=False) for t in datasets.inputs],
        "outputs": [_dataset(t, run, datasets, producer, output=True) for t in datasets.outputs],
    }
    return event


def _dataset(
    table: str, run: RunInfo, datasets: Datasets, producer: str, *, output: bool
) -> dict[str, Any]:
    namespace, name = namespace_of(table, run.workspace, run.env)
    facets: dict[str, Any] = {}
    columns = (datasets.schemas or {}).get(table)
    if columns:
        fields = [{"name": c, **({"type": t} if t else {})} for c, t in columns]
        facets["schema"] = _facet("schema", producer, fields=fields)
    if output:
        lineage = _column_lineage(table, run, datasets)
        if lineage is not None:
            facets["columnLineage"] = _facet("columnLineage", producer, **lineage)
    return {"namespace": namespace, "name": name, "facets": facets}


def _column_lineage(table: str, run: RunInfo, datasets: Datasets) -> dict[str, Any] | None:
    fields: dict[str, list[dict[str, Any]]] = {}
    for edge in datasets.edges:
        if edge.target.table != table:
            continue
        direct = edge.kind is EdgeKind.DIRECT
        fields.setdefault(edge.target.column, []).append(
            _input_field(edge.source, run, "DIRECT", "IDENTITY" if direct else "TRANSFORMATION")
        )
    dataset = [
        _input_field(ref, run, "INDIRECT", "FILTER")
        for ref, target in sorted(datasets.filters)
        if target == table
    ]
    if not fields and not dataset:
        return None
    out: dict[str, Any] = {"fields": {k: {"inputFields": v} for k, v in sorted(fields.items())}}
    if dataset:
        out["dataset"] = dataset
    return out


def _input_field(ref: ColumnRef, run: RunInfo, kind: str, subtype: str) -> dict[str, Any]:
    namespace, name = namespace_of(ref.table, run.workspace, run.env)
    return {
        "namespace": namespace,
        "name": name,
        "field": ref.column,
        "transformations": [{"type": kind, "subtype": subtype, "masking": False}],
    }


def _iso(value: datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class EmitterConfig:
    url: str | None = None
    file: Path | None = None
    timeout_seconds: float = 5.0
    api_key: str | None = None

    @classmethod
    def from_env(cls) -> EmitterConfig | None:
        """The configuration in ``LAKEWORKS_OPENLINEAGE_URL``/``_FILE``; None if unset."""
        url = os.environ.get(ENV_URL, "").strip() or None
        file = os.environ.get(ENV_FILE, "").strip() or None
        if url is None and file is None:
            return None
        if url is not None and not url.startswith(("http://", "https://")):
            raise UserError(
                f"{ENV_URL} must be an http(s) URL, not {url!r}",
                hint="e.g. http://localhost:5000/api/v1/lineage",
            )
        return cls(url=url, file=Path(file) if file else None)


class Emitter:
    """Sends events to the configured HTTP endpoint and/or appends them to a file."""

    def __init__(self, config: EmitterConfig) -> None:
        self.config = config
        self._lock = threading.Lock()

    def emit(self, event: Mapping[str, Any]) -> None:
        """Deliver one event; ``TransientError`` when the endpoint cannot be reached."""
        body = json.dumps(event, sort_keys=True)
        if self.config.file is not None:
            self.config.file.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.config.file.open("a", encoding="utf-8") as handle:
                handle.write(body + "\n")
        if self.config.url is not None:
            self._post(body)

    def _post(self, body: str) -> None:
        import urllib.error  # only when posting: urllib.request loads http, ssl and email
        import urllib.request

        assert self.config.url is not None
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        request = urllib.request.Request(
            self.config.url, data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as reply:
                reply.read()
        except urllib.error.HTTPError as exc:
            raise TransientError(
                f"OpenLineage endpoint {self.config.url} answered {exc.code}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise TransientError(
                f"OpenLineage endpoint {self.config.url} is unreachable: {exc}"
            ) from None


def validate(event: Mapping[str, Any]) -> list[str]:
    """Problems of ``event`` against the OpenLineage schema (empty when valid)."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(event)'}: {error.message}"
        for error in validator.iter_errors(event)
    ]
