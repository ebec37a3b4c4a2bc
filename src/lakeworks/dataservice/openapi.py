"""One OpenAPI 3.1 document of every published API: parameters, response rows, auth."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lakeworks import __version__
from lakeworks.dataservice.repository import ApiVersion
from lakeworks.dataservice.spec import Parameter

_FORMATS = {"date": "date", "datetime": "date-time"}
_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
}
_ERRORS = {
    "400": "A parameter is missing, unknown or invalid",
    "401": "No credentials, or wrong ones (bearer token or X-Ca-* signature)",
    "403": "The application is not granted this API (or the grant expired)",
    "429": "A rate limit was reached; see Retry-After",
}


def _scalar_schema(parameter: Parameter) -> dict[str, Any]:
    kind = parameter.base_type
    schema: dict[str, Any] = {"type": _JSON_TYPES[kind]}
    if kind in _FORMATS:
        schema["format"] = _FORMATS[kind]
    if kind == "string":
        schema["maxLength"] = parameter.max_length
        if parameter.min_length:
            schema["minLength"] = parameter.min_length
    if kind in ("integer", "number"):
        if parameter.minimum is not None:
            schema["minimum"] = parameter.minimum
        if parameter.maximum is not None:
            schema["maximum"] = parameter.maximum
        if kind == "integer":
            schema.setdefault("minimum", -(2**63) + 1)
            schema.setdefault("maximum", 2**63 - 1)
    if parameter.enum is not None:
        schema["enum"] = parameter.enum
    return schema


def parameter_schema(parameter: Parameter) -> dict[str, Any]:
    schema = _scalar_schema(parameter)
    if parameter.is_list:
        schema = {"type": "array", "items": schema, "minItems": 1, "maxItems": parameter.max_items}
    if parameter.description:
        schema["description"] = parameter.description
    if parameter.default is not None:
        schema["default"] = parameter.default
    if parameter.example is not None:
        schema["examples"] = [parameter.example]
    return schema


def _paging(max_size: int, default: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1},
        },
        {
            "name": "page_size",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_size, "default": default},
        },
        {
            "name": "with_total",
            "in": "query",
            "description": "Count every matching row too (slower).",
            "schema": {"type": "boolean", "default": False},
        },
    ]


def _row_schema(version: ApiVersion) -> dict[str, Any]:
    definition = version.definition
    properties: dict[str, Any] = {}
    if definition.spec.response:
        for item in definition.spec.response:
            schema: dict[str, Any] = {"type": [_JSON_TYPES[item.type], "null"]}
            if item.type in _FORMATS:
                schema["format"] = _FORMATS[item.type]
            if item.description:
                schema["description"] = item.description
            properties[item.name] = schema
    elif definition.fields:
        for name, kind in definition.fields:
            properties[name] = {"type": [_JSON_TYPES.get(kind, "string"), "null"]}
            if kind in _FORMATS:
                properties[name]["format"] = _FORMATS[kind]
    else:
        for name, _sources in definition.lineage:
            properties[name] = {}
    return {"type": "object", "properties": properties}


def _operation(version: ApiVersion) -> tuple[str, dict[str, Any]]:
    definition = version.definition
    spec = definition.spec
    operation: dict[str, Any] = {
        "operationId": definition.key.replace("/", "_").replace("-", "_"),
        "summary": spec.summary or definition.key,
        "description": spec.description,
        "tags": spec.tags or [definition.group],
        "security": [{"bearer": []}, {"signature": []}],
        "x-lakeworks-version": version.version,
    }
    paging = _paging(spec.max_page_size, spec.page_size)
    if spec.method == "GET":
        operation["parameters"] = [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "schema": parameter_schema(p),
                **({"style": "form", "explode": True} if p.is_list else {}),
            }
            for p in spec.parameters
        ] + paging
    else:
        operation["parameters"] = []
        properties: dict[str, Any] = {p.name: parameter_schema(p) for p in spec.parameters}
        for item in paging:
            properties[item["name"]] = item["schema"]
        body: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": False,
        }
        required = [p.name for p in spec.parameters if p.required]
        if required:
            body["required"] = required
        operation["requestBody"] = {
            "required": bool(required),
            "content": {"application/json": {"schema": body}},
        }
    data: dict[str, Any] = {
        "type": "object",
        "required": ["rows", "page", "page_size", "has_more"],
        "properties": {
            "rows": {"type": "array", "items": _row_schema(version)},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "has_more": {"type": "boolean"},
            "total": {"type": "integer"},
        },
        "additionalProperties": False,
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "One page of rows",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["request_id", "api", "data"],
                        "properties": {
                            "request_id": {"type": "string"},
                            "api": {
                                "type": "object",
                                "required": ["name", "version"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "integer"},
                                },
                                "additionalProperties": False,
                            },
                            "data": data,
                        },
                        "additionalProperties": False,
                    }
                }
            },
        }
    }
    for status, description in _ERRORS.items():
        responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    operation["responses"] = responses
    return spec.method.lower(), operation


def openapi_document(
    versions: Sequence[ApiVersion], server_url: str | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``versions`` (the published ones)."""
    paths: dict[str, Any] = {}
    for version in versions:
        method, operation = _operation(version)
        paths.setdefault(f"/dataservice/{version.route}", {})[method] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Lakeworks data APIs",
            "version": __version__,
            "description": "Published DataService Studio APIs. Call with"
            " 'Authorization: Bearer <app key>.<app secret>' or sign the request with the"
            " X-Ca-Key, X-Ca-Timestamp, X-Ca-Nonce and X-Ca-Signature headers (HMAC-SHA256;"
            " see docs/dataservice.md).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "<app key>.<app secret>",
                },
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Ca-Key",
                    "description": "With X-Ca-Timestamp (ms), X-Ca-Nonce and X-Ca-Signature:"
                    " Base64 HMAC-SHA256 of the canonical request (docs/dataservice.md).",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "hint": {"type": "string"},
                            },
                        }
                    },
                }
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
