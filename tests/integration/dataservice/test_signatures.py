"""Signed requests (X-Ca-* headers, HMAC-SHA256): the good one passes; a wrong secret, an
old timestamp, a replayed nonce, a revoked app or an API not granted is refused and
every refusal is in the call log."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from lakeworks.dataservice.signing import sign
from tests.integration.dataservice.conftest import Studio, bearer

API = """
    sql: SELECT id, region FROM orders WHERE region = ${region} ORDER BY id
    parameters: [{name: region, type: string, required: true}]
"""
POST_API = """
    method: POST
    sql: SELECT id FROM orders WHERE amount >= ${least} ORDER BY id
    parameters: [{name: least, type: number, required: true}]
"""
PATH = "/dataservice/sales/by_region"


def signed(
    app: dict[str, Any],
    *,
    secret: str | None = None,
    stamp: int | None = None,
    nonce: str | None = None,
    query: list[tuple[str, str]] | None = None,
) -> dict[str, str]:
    return sign(
        app["app_key"],
        secret if secret is not None else app["secret"],
        "GET",
        PATH,
        query=query if query is not None else [("region", "east")],
        timestamp_ms=stamp if stamp is not None else int(time.time() * 1000),
        nonce=nonce or uuid.uuid4().hex,
    )


def test_signed_requests_and_every_refusal(ds: Studio) -> None:
    ds.write("sales", "by_region", API)
    ds.write("sales", "big", POST_API)
    ds.publish("sales/by_region")
    ds.publish("sales/big")
    app = ds.app("shop", "sales/by_region", "sales/big")
    other = ds.app("other", "sales/big")
    get = ds.client.get
    url = PATH + "?region=east"

    good = get(url, headers=signed(app))
    assert good.status_code == 200, good.text
    assert [r["id"] for r in good.json()["data"]["rows"]] == [1, 3, 5]

    body = json.dumps({"least": 30}).encode()
    headers = sign(
        app["app_key"],
        app["secret"],
        "POST",
        "/dataservice/sales/big",
        body=body,
        content_type="application/json",
        timestamp_ms=int(time.time() * 1000),
        nonce=uuid.uuid4().hex,
    )
    posted = ds.client.post("/dataservice/sales/big", content=body, headers=headers)
    assert posted.status_code == 200 and len(posted.json()["data"]["rows"]) == 3
    tampered = ds.client.post(
        "/dataservice/sales/big", content=json.dumps({"least": 0}).encode(), headers=headers
    )
    assert tampered.status_code == 401

    refusals = {
        "wrong secret": get(url, headers=signed(app, secret="not-the-secret")),
        "old timestamp": get(url, headers=signed(app, stamp=int(time.time() * 1000) - 16 * 60_000)),
        "other query": get(PATH + "?region=west", headers=signed(app)),
        "not granted": get(url, headers=signed(other)),
    }
    nonce = uuid.uuid4().hex
    assert get(url, headers=signed(app, nonce=nonce)).status_code == 200
    refusals["replayed nonce"] = get(url, headers=signed(app, nonce=nonce))
    statuses = {why: r.status_code for why, r in refusals.items()}
    assert statuses == {
        "wrong secret": 401,
        "old timestamp": 401,
        "other query": 401,
        "not granted": 403,
        "replayed nonce": 401,
    }
    assert "already used" in refusals["replayed nonce"].json()["error"]["message"]
    assert "15-minute" in refusals["old timestamp"].json()["error"]["message"]

    revoked = ds.client.post(ds.url("/apps/shop/revoke"), headers=ds.owner)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert get(url, headers=signed(app)).status_code == 401
    assert get(url, headers=bearer(app)).status_code == 401
    assert get(url).status_code == 401
    assert get(url, headers={"Authorization": f"Bearer {app['app_key']}.wrong"}).status_code == 401

    logged = [(c["status"], c["app_key"]) for c in ds.calls()]
    assert logged.count((401, app["app_key"])) == 8
    assert (403, other["app_key"]) in logged
    assert all(c["error"] for c in ds.calls() if c["status"] >= 400)


def test_grants_expire(ds: Studio) -> None:
    ds.write("sales", "by_region", API)
    ds.publish("sales/by_region")
    app = ds.app("shop")
    until = ds.client.put(
        ds.url("/apps/shop/grants/sales/by_region"),
        json={"until": "2020-01-01T00:00:00Z"},
        headers=ds.owner,
    )
    assert until.status_code == 200
    refused = ds.client.get(PATH + "?region=east", headers=bearer(app))
    assert refused.status_code == 403 and "expired" in refused.json()["error"]["message"]
    ds.client.put(
        ds.url("/apps/shop/grants/sales/by_region"),
        json={"until": "2999-01-01T00:00:00Z"},
        headers=ds.owner,
    )
    assert ds.client.get(PATH + "?region=east", headers=bearer(app)).status_code == 200
