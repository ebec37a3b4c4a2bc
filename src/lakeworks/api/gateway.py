"""The HTTP face of published data APIs: ``/dataservice/<group>/<path>`` and the OpenAPI
document of them at ``/dataservice/openapi.json``. Requests go to
``dataservice.gateway.Gateway`` (applications authenticate there, not with user tokens)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lakeworks.api.services import ServerServices
from lakeworks.dataservice.gateway import GatewayRequest
from lakeworks.dataservice.openapi import openapi_document

MAX_BODY = 1_000_000
OPENAPI_PATH = "/dataservice/openapi.json"


def _services(request: Request) -> ServerServices:
    services: ServerServices = request.app.state.services
    return services


async def serve(request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return JSONResponse(
            {"error": {"code": "too_large", "message": "the body is larger than 1 MB"}}, 413
        )
    call = GatewayRequest(
        method=request.method,
        path=request.url.path,
        query=list(request.query_params.multi_items()),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        client=request.client.host if request.client else None,
    )
    gateway = _services(request).dataservice.gateway
    answer = await run_in_threadpool(gateway.handle, call)
    return Response(answer.content, answer.status, headers=answer.headers)


async def openapi(request: Request) -> Response:
    repository = _services(request).dataservice.repository
    versions = await run_in_threadpool(repository.published_versions)
    base = str(request.base_url).rstrip("/")
    return JSONResponse(openapi_document(versions, base))


ROUTES = [
    Route(OPENAPI_PATH, openapi, methods=["GET"]),
    Route("/dataservice/{route:path}", serve, methods=["GET", "POST"]),
]
