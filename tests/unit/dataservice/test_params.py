"""Typed request parameters and the API file: what is accepted, what is a 400."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lakeworks.dataservice.params import BadRequest, parse_request
from lakeworks.dataservice.signing import sign, signature, string_to_sign
from lakeworks.dataservice.spec import ApiFile, Parameter

PARAMS = [
    Parameter(name="s", type="string", max_length=5, enum=["a", "bb"]),
    Parameter(name="i", type="integer", minimum=1, maximum=10),
    Parameter(name="n", type="number"),
    Parameter(name="b", type="boolean"),
    Parameter(name="d", type="date", minimum="2026-01-01"),
    Parameter(name="t", type="datetime"),
    Parameter(name="li", type="list[integer]", max_items=2),
    Parameter(name="r", type="string", required=True, default=None),
    Parameter(name="k", type="integer", default=3),
]


def _parse(raw: dict[str, object], text: bool = True) -> dict[str, object]:
    values, _paging = parse_request(
        PARAMS, {"r": "x", **raw}, from_text=text, default_size=20, max_size=50
    )
    return values


def test_text_values_are_typed() -> None:
    values = _parse(
        {
            "s": "bb",
            "i": "7",
            "n": "2.5",
            "b": "true",
            "d": "2026-04-11",
            "t": "2026-04-11T08:00:00Z",
            "li": ["1", "2"],
        }
    )
    assert values == {
        "s": "bb",
        "i": 7,
        "n": 2.5,
        "b": True,
        "d": date(2026, 4, 11),
        "t": datetime(2026, 4, 11, 8, 0),
        "li": [1, 2],
        "r": "x",
        "k": 3,
    }


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"s": "c"}, "one of"),
        ({"s": "toolong"}, "characters"),
        ({"i": "11"}, "at most 10"),
        ({"i": "1.5"}, "an integer"),
        ({"i": "²"}, "an integer"),
        ({"n": "1e999"}, "finite"),
        ({"b": "maybe"}, "true or false"),
        ({"d": "2025-12-31"}, "at least"),
        ({"d": "yesterday"}, "ISO date"),
        ({"li": ["1", "2", "3"]}, "at most 2"),
        ({"li": ["1", "x"]}, "an integer"),
        ({"zz": "1"}, "unknown parameter 'zz'"),
        ({"page_size": "51"}, "page_size"),
        ({"page": "0"}, "'page'"),
    ],
)
def test_bad_values_are_a_400_naming_the_parameter(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        _parse(raw)


def test_json_values_must_have_json_types() -> None:
    assert _parse({"i": 3, "b": False, "li": [4]}, text=False)["li"] == [4]
    for raw in ({"i": "3"}, {"i": True}, {"b": "true"}, {"n": "1"}):
        with pytest.raises(BadRequest):
            _parse(raw, text=False)
    with pytest.raises(BadRequest, match="required"):
        parse_request(PARAMS, {}, from_text=True, default_size=20, max_size=50)


def test_paging_defaults_and_total() -> None:
    _values, paging = parse_request(
        PARAMS,
        {"r": "x", "page": "3", "with_total": "true"},
        from_text=True,
        default_size=20,
        max_size=50,
    )
    assert (paging.page, paging.page_size, paging.with_total) == (3, 20, True)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({}, "either 'table'"),
        ({"table": "t"}, "needs 'columns'"),
        ({"sql": "SELECT 1", "parameters": [{"name": "page"}]}, "reserved"),
        ({"sql": "SELECT 1", "parameters": [{"name": "x", "type": "list[map]"}]}, "unknown type"),
        ({"sql": "SELECT 1", "timeout_seconds": 31}, "less than or equal to 30"),
        ({"sql": "SELECT 1", "page_size": 10, "max_page_size": 5}, "larger than"),
        ({"sql": "SELECT 1", "path": "Bad Path"}, "not an API path"),
        ({"table": "t; drop", "columns": ["a"]}, "not a table name"),
    ],
)
def test_api_file_mistakes(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ApiFile.model_validate(data)


def test_signature_covers_method_path_sorted_query_and_headers() -> None:
    headers = sign(
        "ak1",
        "s3cret",
        "GET",
        "/dataservice/a/b",
        query=[("z", "1"), ("a", "2")],
        timestamp_ms=1_700_000_000_000,
        nonce="n1",
    )
    text = string_to_sign("GET", "/dataservice/a/b", [("a", "2"), ("z", "1")], headers)
    assert text.endswith("x-ca-timestamp:1700000000000\n/dataservice/a/b?a=2&z=1")
    assert headers["x-ca-signature"] == signature("s3cret", text)
    other = string_to_sign("GET", "/dataservice/a/b", [("a", "3"), ("z", "1")], headers)
    assert signature("s3cret", other) != headers["x-ca-signature"]
