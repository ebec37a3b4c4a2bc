"""The ``postgres_cdc`` source of stream files: what is accepted and what is refused
(with the file's line and a hint)."""

from __future__ import annotations

import pytest

from lakeworks.errors import UserError
from lakeworks.streaming.postgres_cdc import slot_name
from lakeworks.streaming.spec import CdcSource, StreamSource, parse_stream

CDC = "source:\n  type: postgres_cdc\n  data_source: pg\n"


def test_kafka_stays_the_default_source() -> None:
    spec, _ = parse_stream("source: {data_source: k, topics: [t]}\ntarget: {table: t}\n")
    assert isinstance(spec.source, StreamSource) and not spec.upsert


def test_a_cdc_stream_applies_by_primary_key() -> None:
    spec, _ = parse_stream(CDC + "  tables: [shop.orders]\ntarget: {table: ods_orders}\n")
    assert isinstance(spec.source, CdcSource) and spec.upsert
    assert spec.target.table_for("shop", "orders") == "ods_orders"


def test_whole_database_needs_a_naming_rule() -> None:
    with pytest.raises(UserError, match=r"naming rule .*ods_\{table\}"):
        parse_stream(CDC + "  include: ['public.*']\ntarget: {table: ods}\n")
    spec, _ = parse_stream(
        CDC
        + "  include: ['public.*']\n  exclude: ['public.tmp_*']\ntarget: {table: 'ods_{table}'}\n"
    )
    assert spec.target.table_for("public", "users") == "ods_users"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  tables: [orders]\ntarget: {table: t, mode: append}\n", "leave out mode"),
        ("  tables: [orders]\ntarget: {table: t, key: [id]}\n", "primary key"),
        ("  tables: ['orders; drop']\ntarget: {table: t}\n", "not a table name"),
        ("target: {table: t}\n", "either tables"),
        ("  tables: [orders]\n  slot: Bad-Name\ntarget: {table: t}\n", "slot"),
    ],
)
def test_bad_cdc_files_are_refused(extra: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        parse_stream(CDC + extra, "wf/x.stream.yml")
    assert "x.stream.yml" in str(caught.value)


def test_slot_names_are_valid_and_distinct() -> None:
    short = slot_name("Shop WS", "prod", "wf.orders")
    assert short == "lakeworks_shop_ws_prod_wf_orders"
    long_a = slot_name("ws", "dev", "w." + "a" * 80)
    long_b = slot_name("ws", "dev", "w." + "a" * 79 + "b")
    assert len(long_a) <= 63 and long_a != long_b
