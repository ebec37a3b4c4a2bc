"""Operations > Streams: every stream node of an environment with its state, rows in
and out, rows/s, lag, watermark, last flush and last error; start, pause, resume and
stop through the stream API."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.errors import LakeworksError
from lakeworks.security.permissions import RUN_OR_OPERATE
from lakeworks.security.permissions import Permission as Perm
from lakeworks.spec.models import Node, NodeKind
from lakeworks.streaming import service
from lakeworks.streaming.spec import CdcSource, parse_stream
from lakeworks.streaming.status import StreamStatus
from lakeworks.web.render import page

router = APIRouter()


@dataclass(frozen=True)
class StreamRow:
    """One line of the page: the node, what it follows, and its last status."""

    key: str
    source: str
    target: str
    status: StreamStatus | None
    problem: str | None = None

    @property
    def active(self) -> bool:
        return self.status is not None and self.status.state in ("running", "paused", "restarting")


def _describe(node: Node) -> tuple[str, str]:
    spec = parse_stream(node.code, node.path)[0]
    source = spec.source
    if isinstance(source, CdcSource):
        what = ", ".join(source.tables) or "include " + ", ".join(source.include)
        return f"PostgreSQL {source.data_source}: {what}", spec.target.table
    topics = ", ".join(source.topics) or f"pattern {source.pattern}"
    return f"Kafka {source.data_source}: {topics}", spec.target.table


@router.get(
    "/w/{workspace}/envs/{env}/ops/streams", response_class=HTMLResponse, name="console.streams"
)
def streams_page(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.INSTANCES_READ)
) -> Response:
    """The stream nodes of the environment's definition and their live status."""
    services = services_of(request)
    problem = None
    rows: list[StreamRow] = []
    try:
        ws = services.definition(workspace, env)
        statuses = {s.node_key: s for s in service.statuses(services.db, ws, env)}
        for node in ws.nodes():
            if node.kind is not NodeKind.STREAM:
                continue
            try:
                source, target = _describe(node)
                rows.append(StreamRow(node.key, source, target, statuses.get(node.key)))
            except LakeworksError as exc:
                rows.append(StreamRow(node.key, "", "", statuses.get(node.key), exc.render()))
    except LakeworksError as exc:
        problem = exc.render()
    return page(
        request,
        "ops/streams.html",
        access,
        title="Streams",
        module="ops",
        tab="streams",
        rows=rows,
        problem=problem,
        refreshing=any(r.active for r in rows),
        may_operate=access.can(RUN_OR_OPERATE.for_env(env)),
    )
