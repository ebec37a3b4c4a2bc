"""JSON-schema values: schema files, column types and the reasons given for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from lakeworks.errors import UserError
from lakeworks.streaming.json_values import JsonSchemaValues, load_json_schema
from lakeworks.streaming.spec import parse_stream

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "price": {"type": ["number", "null"]},
        "day": {"type": "string", "format": "date"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    "required": ["id"],
}


def _values(tmp_path: Path, framing: str = "none") -> JsonSchemaValues:
    (tmp_path / "s.json").write_text(json.dumps(SCHEMA))
    return load_json_schema("s.json", framing, tmp_path)


def test_columns_are_typed_from_the_properties(tmp_path: Path) -> None:
    assert _values(tmp_path).types == {"id": pa.int64(), "price": pa.float64(), "day": pa.date32()}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"id": "x"}', "field 'id' must be integer"),
        (b'{"price": 1}', "the value must contain ['id'] properties"),
        (b'{"id": 1, "tags": [1]}', "field 'tags[0]' must be string"),
        (b'{"id": 1, "address": {"city": 5}}', "field 'address.city' must be string"),
        (b"[1]", "message is not a JSON object"),
        (b"{oops", "not JSON"),
    ],
)
def test_a_bad_value_says_which_field_and_what_was_expected(
    tmp_path: Path, value: bytes, reason: str
) -> None:
    checked, why = _values(tmp_path).check(value)
    assert checked is None and reason in why


def test_confluent_framing_is_taken_off(tmp_path: Path) -> None:
    values = _values(tmp_path, "confluent")
    assert values.check(b'\0\0\0\0\x01{"id": 1}') == (b'{"id": 1}', "")
    assert "Confluent framing" in values.check(b'{"id": 1}')[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"json_schema s.json: not JSON: Expecting"),
        ('{"type": "array"}', r"json_schema s.json: the schema must describe an object"),
        ('{"type": "object", "required": 3}', r"json_schema s.json: not a valid JSON Schema"),
        (
            '{"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}',
            r"refers to https://example.com/a.json: schemas are not fetched",
        ),
    ],
)
def test_a_bad_schema_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "s.json").write_text(text)
    with pytest.raises(UserError, match=message):
        load_json_schema("s.json", "none", tmp_path)


def test_format_json_schema_needs_its_file() -> None:
    text = "source:\n  data_source: k\n  topics: [t]\n  format: json_schema\ntarget:\n  table: x\n"
    with pytest.raises(UserError, match="format json_schema needs json_schema") as caught:
        parse_stream(text, "wf/ev.stream.yml")
    assert "ev.stream.yml" in str(caught.value)
