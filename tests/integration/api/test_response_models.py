"""Every JSON route of the app declares its answer's shape.

The test walks the routes of the whole app (API and console mounted as ``lakeworks up``
does): each route of the OpenAPI document must name a response model that refuses
unknown keys (or a dataclass, whose fields are fixed; a route answering in two forms
names its JSON schema in ``responses``), so that the document carries every shape and
a route cannot drift from it. Console pages (HTML, left out of the document) and the
published data APIs (their own document at ``/dataservice/openapi.json``) are not JSON
routes of this document.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from tests.integration.api.conftest import Api

PENDING: set[str] = set()
"""Routes still answering plain dicts: give each a model and
take it off this list."""


def _documented(routes: Iterable[BaseRoute], shown: bool = True) -> Iterator[APIRoute]:
    """The app's routes of the OpenAPI document, through included routers (FastAPI keeps
    an included router as one entry holding the original router)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _documented(
                inner.routes, shown and getattr(context, "include_in_schema", True)
            )
        elif isinstance(route, APIRoute) and shown and route.include_in_schema:
            yield route


def _documented_by_hand(route: APIRoute) -> bool:
    """A route answering in more than one form (the log: a JSON page or a text stream)
    names its JSON schema in ``responses`` instead."""
    ok = route.responses.get(200) or route.responses.get("200") or {}
    return "schema" in ok.get("content", {}).get("application/json", {})


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a type (``list[X]``, ``X | None``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models(arg)
    return found


def _loose(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Names of ``model`` and the models it nests that accept unknown keys."""
    if model in seen:
        return []
    seen.add(model)
    loose = [] if model.model_config.get("extra") == "forbid" else [model.__name__]
    for field in model.model_fields.values():
        for nested in _models(field.annotation):
            loose += _loose(nested, seen)
    return loose


def test_every_documented_route_declares_a_strict_response_model(api: Api) -> None:
    routes = list(_documented(api.app.routes))
    assert len(routes) >= 75
    missing: list[str] = []
    loose: list[str] = []
    for route in routes:
        label = f"{sorted(route.methods)} {route.path}"
        model = route.response_model
        if isinstance(model, type) and issubclass(model, BaseModel):
            loose += [f"{label}: {name}" for name in _loose(model, set())]
        elif not (
            isinstance(model, type) and dataclasses.is_dataclass(model)
        ) and not _documented_by_hand(route):
            if route.path not in PENDING:
                missing.append(f"{label}: {model!r}")
        elif route.path in PENDING:
            missing.append(f"{label}: has a model now, take it off PENDING")
    assert not missing, "routes without a response model:\n" + "\n".join(missing)
    assert not loose, "response models that accept unknown keys:\n" + "\n".join(loose)


def test_the_document_gives_every_operation_a_json_answer(api: Api) -> None:
    document = api.client.get("/api/openapi.json").json()
    bare: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            ok = [v for k, v in operation["responses"].items() if k.startswith("2")]
            schemas = [v.get("content", {}).get("application/json", {}).get("schema") for v in ok]
            if not any(s for s in schemas):
                bare.append(f"{method.upper()} {path}")
    assert not bare, "operations without a documented answer:\n" + "\n".join(bare)
    assert "/api/workspaces/{workspace}/envs/{env}/alerts/rules" in document["paths"]


def test_the_published_api_envelope_is_in_the_management_document(api: Api) -> None:
    schemas = api.client.get("/api/openapi.json").json()["components"]["schemas"]
    page = schemas["PageOut"]
    assert set(page["required"]) == {"rows", "page", "page_size", "has_more"}
    assert page["additionalProperties"] is False
