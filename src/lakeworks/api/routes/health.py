"""``GET /api/health``: which parts of the server run (no sign-in needed).

``parts`` names each part and its state: ``api`` (``running``), and ``scheduler`` and
``worker`` (``running``, ``starting``, ``restarting``, ``failed``, ``stopped``, or
``off`` when the server was started without them). The answer is 503 when a part that
should run does not, so that a load balancer or supervisor notices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import guard
from lakeworks.security.permissions import Permission

router = APIRouter(tags=["health"])

HealthProbe = Callable[[], Mapping[str, str]]
_FINE = frozenset({"running", "starting", "off"})


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    parts: dict[str, str]


@router.get("/health", response_model=Health)
def health(
    request: Request, response: Response, access: Access = guard(Permission.PUBLIC)
) -> Health:
    """Which parts of this server run; 503 when one that should run does not."""
    probe: HealthProbe | None = getattr(request.app.state, "health", None)
    parts = {"api": "running"}
    parts.update(probe() if probe is not None else {"scheduler": "off", "worker": "off"})
    ok = all(state in _FINE for state in parts.values())
    if not ok:
        response.status_code = 503
    return Health(status="ok" if ok else "degraded", parts=parts)
