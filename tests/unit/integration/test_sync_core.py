"""Pure parts of data integration: spec parsing, planning splits, conversion, redaction."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from lakeworks.connectors.base import KeyRange, ReadRequest, select_sql
from lakeworks.connectors.credentials import redact, resolve_password, set_decryptor
from lakeworks.connectors.registry import connector_types, parse_config
from lakeworks.errors import UserError
from lakeworks.integration.convert import Converter, cast_column, parse_type
from lakeworks.integration.pipeline import merge_cursor
from lakeworks.integration.plan import split_ranges
from lakeworks.integration.progress import ProgressSnapshot
from lakeworks.integration.spec import ColumnSpec, parse_sync


def test_spec_errors_name_file_line_and_key() -> None:
    text = "source:\n  data_source: pg\n  table: t\n  parallel: 4\ntarget:\n  table: x\n"
    with pytest.raises(UserError) as info:
        parse_sync(text, "n.sync.yml")
    assert "split_key" in str(info.value)
    assert info.value.location.line == 1
    with pytest.raises(UserError) as unknown:
        parse_sync("source: {data_source: pg, table: t}\ntarget: {table: x}\nspeeed: 1\n", "n")
    assert "unknown key 'speeed'" in str(unknown.value)
    assert unknown.value.location.line == 3


def test_spec_needs_exactly_one_thing_to_read() -> None:
    with pytest.raises(UserError, match="exactly one of table, query, path or topic"):
        parse_sync("source: {data_source: pg, table: t, query: select 1}\ntarget: {table: x}\n")


def test_unknown_column_type_is_a_spec_error_at_its_line() -> None:
    text = (
        "source: {data_source: pg, table: t}\n"
        "target: {table: x}\n"
        "columns:\n"
        "  - id\n"
        "  - {source: amt, type: nonsense}\n"
    )
    with pytest.raises(UserError) as info:
        parse_sync(text, "n.sync.yml")
    assert info.value.location.line == 5
    assert info.value.location.key == "columns.1.type"
    assert "unknown type 'nonsense'" in info.value.message
    assert "bigint" in info.value.message and "decimal(p,s)" in info.value.message
    with pytest.raises(UserError, match=r"decimal\(40,2\) is out of range"):
        parse_sync(text.replace("nonsense", "'decimal(40,2)'"), "n.sync.yml")
    spec, _ = parse_sync(text.replace("nonsense", "'decimal(12, 2)'"), "n.sync.yml")
    assert spec.column_specs() == [
        ColumnSpec(source="id"),
        ColumnSpec(source="amt", type="decimal(12, 2)"),
    ]


def test_select_sql_combines_filter_cursor_and_split() -> None:
    request = ReadRequest(
        table="s.orders",
        columns=["id", "amt"],
        where="status = 'paid'",
        cursor_column="updated_at",
        cursor_after=datetime(2024, 1, 1, 12, 0),
        split=KeyRange("id", 10, 20),
    )
    assert select_sql(request) == (
        'SELECT "id", "amt" FROM "s"."orders" WHERE (status = \'paid\') AND '
        '"updated_at" > \'2024-01-01 12:00:00\' AND "id" >= 10 AND "id" < 20'
    )
    assert select_sql(ReadRequest(query="select 1 as x"), "`").startswith(
        "SELECT * FROM (select 1 as x) AS lw_q"
    )


def test_split_ranges_cover_the_key_space() -> None:
    ranges = split_ranges("id", 1, 100, 4)
    assert ranges[0] == KeyRange("id", 1, 26)
    assert ranges[-1].upper is None
    assert [r.lower for r in ranges] == [1, 26, 51, 76]
    assert split_ranges("id", 5, 5, 4) == [KeyRange("id", 5, None)]
    assert split_ranges("name", "a", "z", 3) == [KeyRange("name", "a", None)]
    days = split_ranges("d", date(2024, 1, 1), date(2024, 1, 11), 2)
    assert days[1].lower == date(2024, 1, 6)


def test_parse_type() -> None:
    assert parse_type("BIGINT") == pa.int64()
    assert parse_type("decimal(12, 2)") == pa.decimal128(12, 2)
    assert parse_type("varchar(20)") == pa.string()
    with pytest.raises(ValueError, match="unknown type 'blob2'"):
        parse_type("blob2")


def test_cast_isolates_bad_rows() -> None:
    values = pa.array(["1", "2", "x", "4", None, "y"])
    cast, bad = cast_column(values, pa.int64(), "n")
    assert cast.to_pylist() == [1, 2, None, 4, None, None]
    assert sorted(bad) == [2, 5]
    assert "column 'n'" in bad[2]


def test_converter_maps_renames_and_adds_partitions() -> None:
    batch = pa.RecordBatch.from_pydict({"id": ["1", "2", "oops"], "v": ["a", "b", "c"]})
    converter = Converter(
        [ColumnSpec(source="id", name="key", type="bigint"), ColumnSpec(source="v")],
        None,
        {"ds": "20240101"},
        ["key"],
    )
    result = converter.convert(batch)
    assert result.batch.to_pylist() == [
        {"key": 1, "v": "a", "ds": "20240101"},
        {"key": 2, "v": "b", "ds": "20240101"},
    ]
    assert [d.index for d in result.dirty] == [2]


def test_converter_casts_to_existing_target_types() -> None:
    target = pa.schema([pa.field("id", pa.int32()), pa.field("ts", pa.timestamp("us"))])
    converter = Converter(None, target, {}, [])
    batch = pa.RecordBatch.from_pydict({"id": [1, 2], "ts": ["2024-01-01 00:00:00", "bad"]})
    result = converter.convert(batch)
    assert result.batch.schema.field("id").type == pa.int32()
    assert result.batch.num_rows == 1 and result.dirty[0].index == 1


def test_merge_cursor() -> None:
    assert merge_cursor(None, 5) == 5
    assert merge_cursor(7, 5) == 7
    assert merge_cursor({"0": 3}, {"0": 5, "1": 2}) == {"0": 5, "1": 2}


def test_progress_eta() -> None:
    snap = ProgressSnapshot(rows=500, bytes=10_000_000, dirty=1, seconds=2.0, expected_rows=1500)
    assert snap.rows_per_second == 250
    assert snap.eta_seconds == 4.0
    assert snap.describe() == "500 rows, 10.0 MB, 250 rows/s, 1 dirty, ETA 4s"


def test_registry_validates_config_by_type() -> None:
    assert {"postgres", "mysql", "sqlite", "files", "kafka", "warehouse"} <= set(connector_types())
    with pytest.raises(UserError, match="unknown data source type 'oracle'"):
        parse_config("x", {"type": "oracle"})
    with pytest.raises(UserError, match="needs a 'type'"):
        parse_config("x", {"host": "h"})
    with pytest.raises(UserError, match="'database'"):
        parse_config("pg", {"type": "postgres"})


def test_encrypted_password_hook_and_redaction() -> None:
    set_decryptor(lambda token: token[::-1])
    try:
        secret = resolve_password("pg", None, "drowssap-terces")
        assert secret is not None and secret.get_secret_value() == "secret-password"
        assert "secret-password" not in repr(secret)
        assert redact("login failed for secret-password") == "login failed for ***"
    finally:
        set_decryptor(None)
    assert redact("mysql://root:hunter2@db/x") == "mysql://root:***@db/x"
    assert redact("password=abc dbname=x") == "password=*** dbname=x"
    with pytest.raises(UserError, match="no key is loaded"):
        resolve_password("pg", None, "token")
