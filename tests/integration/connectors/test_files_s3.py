"""Files on S3-compatible storage (moto server): read CSV/JSON lines, write Parquet."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pyarrow as pa
import pytest

from lakeworks.connectors.base import ReadRequest, WriteMode, WriteRequest
from lakeworks.connectors.registry import open_sink, open_source

pytestmark = pytest.mark.s3


@pytest.fixture
def bucket(s3_endpoint: str) -> tuple[str, Any]:
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"lw-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    return name, client


def _config(s3_endpoint: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "files",
        "root": f"s3://{bucket}/landing",
        "s3": {
            "endpoint_url": s3_endpoint,
            "access_key_env": "LW_S3_KEY",
            "secret_key_env": "LW_S3_SECRET",
        },
        **extra,
    }


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LW_S3_KEY", "testing")
    monkeypatch.setenv("LW_S3_SECRET", "testing")


def test_read_csv_and_jsonl_from_s3(s3_endpoint: str, bucket: tuple[str, Any]) -> None:
    name, client = bucket
    client.put_object(Bucket=name, Key="landing/orders/1.csv", Body=b"id,city\n1,a\n2,b\n")
    client.put_object(Bucket=name, Key="landing/orders/2.csv", Body=b"id,city\n3,c\n")
    client.put_object(Bucket=name, Key="landing/ev.jsonl", Body=b'{"k": 1}\n{"k": 2}\n')
    source = open_source("s3", _config(s3_endpoint, name))
    items = list(source.read(ReadRequest(table="orders/*.csv", options={"format": "csv"})))
    assert [i.origin for i in items] == [
        f"{name}/landing/orders/1.csv",
        f"{name}/landing/orders/2.csv",
    ]
    assert [v for i in items for v in i.batch.column("id").to_pylist()] == [1, 2, 3]
    assert items[1].position(0).endswith("2.csv line 2")
    events = list(source.read(ReadRequest(table="ev.jsonl", options={"format": "jsonl"})))
    assert events[0].batch.column("k").to_pylist() == [1, 2]


def test_write_parquet_to_s3_commit_and_rollback(s3_endpoint: str, bucket: tuple[str, Any]) -> None:
    name, client = bucket
    sink = open_sink("s3", _config(s3_endpoint, name, format="parquet"))
    batch = pa.RecordBatch.from_pydict({"id": [1, 2], "ds": ["20240101", "20240101"]})
    write = WriteRequest(
        table="out", mode=WriteMode.OVERWRITE_PARTITION, partition={"ds": "20240101"}
    )
    for _ in range(2):
        handle = sink.begin(write)
        handle.write(iter([batch]))
        handle.commit()

    def files() -> list[str]:
        listing = client.list_objects_v2(Bucket=name)["Contents"]
        return [o["Key"] for o in listing if not o["Key"].endswith("/")]

    keys = files()
    assert len(keys) == 1 and keys[0].startswith("landing/out/ds=20240101/part-")
    handle = sink.begin(write)
    handle.write(iter([batch]))
    handle.rollback()
    assert files() == keys
    source = open_source("s3", _config(s3_endpoint, name))
    rows = list(source.read(ReadRequest(table="out/**.parquet")))
    assert rows[0].batch.column("id").to_pylist() == [1, 2]
