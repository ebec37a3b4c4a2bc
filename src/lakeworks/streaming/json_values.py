"""JSON-schema message values: each value is checked against the stream's schema file
(``json_schema``) and the columns take their types from its top-level properties.

Values may carry the Confluent framing (magic byte 0 and a 4-byte schema id), as the
Confluent JSON Schema serializer writes them. A value that breaks the schema goes to
the quarantine with the field and what the schema expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakeworks.errors import UserError

_STRING_FORMATS: dict[str, pa.DataType] = {
    "date-time": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}
_TYPES: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
}


def column_type(prop: Any) -> pa.DataType | None:
    """The column type of one property (None: left to the values, e.g. objects)."""
    if not isinstance(prop, dict):
        return None
    declared = prop.get("type")
    if isinstance(declared, list):  # ["integer", "null"]: the one that is not null
        named = [t for t in declared if t != "null"]
        declared = named[0] if len(named) == 1 else None
    if declared == "string" and prop.get("format") in _STRING_FORMATS:
        return _STRING_FORMATS[prop["format"]]
    return _TYPES.get(declared) if isinstance(declared, str) else None


def _no_remote(uri: str) -> Any:
    raise UserError(
        f"the JSON schema refers to {uri}: schemas are not fetched from the network",
        hint="copy the referenced definitions into the schema file ($defs)",
    )


class JsonSchemaValues:
    """The compiled schema of a stream's values."""

    def __init__(self, name: str, schema: dict[str, Any], framing: str) -> None:
        import fastjsonschema

        self.name = name
        self.framing = framing
        try:
            self._validate: Callable[[Any], Any] = fastjsonschema.compile(
                schema,
                handlers={"http": _no_remote, "https": _no_remote},
                use_default=False,
            )
        except fastjsonschema.JsonSchemaException as exc:
            raise UserError(
                f"json_schema {name}: not a valid JSON Schema: {exc}",
                hint="fix the schema file (drafts 4, 6 and 7 are understood)",
            ) from None
        properties = schema.get("properties") or {}
        self.types: dict[str, pa.DataType] = {}
        """The column type of each typed top-level property."""
        for field, prop in properties.items():
            found = column_type(prop)
            if found is not None:
                self.types[field] = found

    def check(self, value: bytes) -> tuple[bytes | None, str]:
        """The JSON text of a valid value (framing removed), or None and why not."""
        from fastjsonschema import JsonSchemaValueException

        data = value
        if self.framing == "confluent":
            if len(value) < 5 or value[0] != 0:
                return None, "not in the Confluent framing (magic byte 0, schema id)"
            data = value[5:]
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            return None, f"not JSON: {exc}"
        if not isinstance(parsed, dict):
            return None, "message is not a JSON object"
        try:
            self._validate(parsed)
        except JsonSchemaValueException as exc:
            return None, _reason(exc)
        return data, ""


def _reason(exc: Any) -> str:
    """``field 'amount' must be number`` from the validator's ``data.amount must be
    number``."""
    name = str(exc.name or "data")
    message = str(exc.message)
    rest = message[len(name) :].strip() if message.startswith(name) else message
    field = name[len("data") :].lstrip(".") if name.startswith("data") else name
    subject = f"field '{field}'" if field else "the value"
    return f"does not match the JSON schema: {subject} {rest}"


def load_json_schema(path_text: str, framing: str, root: Path | None) -> JsonSchemaValues:
    """The stream's ``json_schema`` file, compiled (errors name the file)."""
    path = Path(path_text)
    if not path.is_absolute() and root is not None:
        path = root / path
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(
            f"json_schema {path_text}: {exc.strerror}",
            hint="give the path of a JSON Schema file, relative to the workspace",
        ) from None
    except ValueError as exc:
        raise UserError(f"json_schema {path_text}: not JSON: {exc}") from None
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise UserError(
            f"json_schema {path_text}: the schema must describe an object (type: object): "
            "each message is one row",
            hint="declare the row's fields under properties",
        )
    return JsonSchemaValues(path_text, schema, framing)
