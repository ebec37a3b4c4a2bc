"""Published APIs as callers see them: both modes, parameters, pages, versions, apps,
grants, limits, caching, masking, the call log and statistics, on DuckDB."""

from __future__ import annotations

from tests.integration.dataservice.conftest import Studio, bearer

BY_REGION = """
    description: Orders of a region
    sql: |
      SELECT id, region, amount, day
      FROM orders
      <where>
        <if test="region != null and region != ''"> AND region = ${region}</if>
        <if test="ids != null"> AND id IN
          <foreach collection="ids" item="i" open="(" separator="," close=")">${i}</foreach>
        </if>
        <if test="since != null"> AND day &gt;= ${since}</if>
      </where>
      ORDER BY id
    parameters:
      - {name: region, type: string, example: east}
      - {name: ids, type: "list[integer]"}
      - {name: since, type: date}
    page_size: 2
    max_page_size: 3
"""

TABLE_MODE = """
    table: orders
    columns: [id, region, amount]
    filters: [region, paid]
    order_by: [id]
    method: POST
    parameters:
      - {name: region, type: string, enum: [east, west, north]}
      - {name: paid, type: boolean}
"""


def test_script_mode_api_serves_pages_of_bound_rows(ds: Studio) -> None:
    ds.write("sales", "by_region", BY_REGION)
    published = ds.publish("sales/by_region")
    assert published["version"] == 1 and published["route"] == "/dataservice/sales/by_region"
    app = ds.app("shop", "sales/by_region")
    call = ds.client.get

    first = call("/dataservice/sales/by_region?region=east", headers=bearer(app))
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert [r["id"] for r in data["rows"]] == [1, 3]
    assert data["has_more"] is True and "total" not in data
    assert data["rows"][0] == {"id": 1, "region": "east", "amount": 10.5, "day": "2026-04-01"}

    second = call(
        "/dataservice/sales/by_region?region=east&page=2&with_total=true", headers=bearer(app)
    ).json()["data"]
    assert [r["id"] for r in second["rows"]] == [5]
    assert second["total"] == 3 and second["has_more"] is False

    listed = call("/dataservice/sales/by_region?ids=2&ids=4&since=2026-04-03", headers=bearer(app))
    assert [r["id"] for r in listed.json()["data"]["rows"]] == [4]

    too_big = call("/dataservice/sales/by_region?page_size=4", headers=bearer(app))
    assert too_big.status_code == 400 and "page_size" in too_big.json()["error"]["message"]
    wrong = call("/dataservice/sales/by_region?ids=two", headers=bearer(app))
    assert wrong.status_code == 400 and "ids" in wrong.json()["error"]["message"]
    unknown = call("/dataservice/sales/by_region?colour=red", headers=bearer(app))
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["message"]


def test_table_mode_api_takes_a_json_body(ds: Studio) -> None:
    ds.write("sales", "orders", TABLE_MODE)
    ds.publish("sales/orders")
    app = ds.app("shop", "sales/orders")
    response = ds.client.post(
        "/dataservice/sales/orders", json={"region": "east", "paid": True}, headers=bearer(app)
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["rows"] == [
        {"id": 1, "region": "east", "amount": 10.5},
        {"id": 3, "region": "east", "amount": 30.0},
    ]
    refused = ds.client.post(
        "/dataservice/sales/orders", json={"region": "south"}, headers=bearer(app)
    )
    assert refused.status_code == 400 and "one of" in refused.json()["error"]["message"]
    get = ds.client.get("/dataservice/sales/orders", headers=bearer(app))
    assert get.status_code == 405


def test_versions_diff_rollback_and_unpublish(ds: Studio) -> None:
    path = ds.write("sales", "by_region", BY_REGION)
    ds.publish("sales/by_region")
    assert ds.publish("sales/by_region")["version"] == 1  # unchanged: same version
    path.write_text(path.read_text().replace("ORDER BY id", "ORDER BY id DESC"))
    assert ds.publish("sales/by_region")["version"] == 2
    app = ds.app("shop", "sales/by_region")
    url = "/dataservice/sales/by_region?region=east"
    assert ds.client.get(url, headers=bearer(app)).json()["data"]["rows"][0]["id"] == 5

    diff = ds.client.get(ds.url("/apis/sales/by_region/diff?old=1&new=2"), headers=ds.owner)
    assert "-ORDER BY id" in diff.json()["diff"] and "+ORDER BY id DESC" in diff.json()["diff"]

    rolled = ds.client.post(
        ds.url("/apis/sales/by_region/rollback"), json={"version": 1}, headers=ds.owner
    )
    assert rolled.status_code == 200 and rolled.json()["version"] == 1
    assert ds.client.get(url, headers=bearer(app)).json()["data"]["rows"][0]["id"] == 1
    shown = ds.client.get(ds.url("/apis/sales/by_region"), headers=ds.owner).json()
    assert shown["published_version"] == 1 and len(shown["versions"]) == 2

    gone = ds.client.post(ds.url("/apis/sales/by_region/unpublish"), headers=ds.owner)
    assert gone.status_code == 200
    assert ds.client.get(url, headers=bearer(app)).status_code == 404


def test_grants_limits_cache_masking_and_stats(ds: Studio) -> None:
    ds.write(
        "sales",
        "emails",
        """
        sql: SELECT id, email FROM orders WHERE region = ${region} ORDER BY id
        parameters: [{name: region, type: string, required: true}]
        cache_ttl_seconds: 60
        limits: {per_second: 1000, per_day: 3}
        """,
    )
    ds.publish("sales/emails")
    granted = ds.app("granted", "sales/emails")
    other = ds.app("other")
    url = "/dataservice/sales/emails?region=west"

    assert ds.client.get(url, headers=bearer(other)).status_code == 403
    rule = ds.client.post(
        "/api/workspaces/sales-lab/masking-rules",
        json={"table": "orders", "column": "email", "method": "email"},
        headers=ds.owner,
    )
    assert rule.status_code in (200, 201), rule.text
    first = ds.client.get(url, headers=bearer(granted))
    assert first.json()["data"]["rows"] == [{"id": 2, "email": "b***@example.com"}]
    assert ds.client.get(url, headers=bearer(granted)).status_code == 200
    assert ds.client.get("/dataservice/sales/emails", headers=bearer(granted)).status_code == 400
    limited = ds.client.get(url, headers=bearer(granted))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1

    calls = ds.calls()
    assert [c["status"] for c in calls[::-1]] == [403, 200, 200, 400, 429]
    assert [c["cached"] for c in calls[::-1]][1:3] == [False, True]
    stats = ds.client.get(ds.url("/stats"), headers=ds.owner).json()["items"]
    assert stats[0]["api"] == "sales/emails" and stats[0]["calls"] == 5
    assert stats[0]["errors"] == 3 and stats[0]["p99_ms"] >= stats[0]["p50_ms"] > 0


def test_openapi_document_lists_published_apis(ds: Studio) -> None:
    ds.write("sales", "by_region", BY_REGION)
    ds.write("sales", "orders", TABLE_MODE)
    ds.publish("sales/by_region")
    ds.publish("sales/orders")
    document = ds.client.get("/dataservice/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    get = document["paths"]["/dataservice/sales/by_region"]["get"]
    names = [p["name"] for p in get["parameters"]]
    assert names == ["region", "ids", "since", "page", "page_size", "with_total"]
    assert get["parameters"][1]["schema"]["items"]["type"] == "integer"
    post = document["paths"]["/dataservice/sales/orders"]["post"]
    schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["region"]["enum"] == ["east", "west", "north"]
    assert set(document["components"]["securitySchemes"]) == {"bearer", "signature"}


def test_data_map_lists_the_apis_a_column_feeds(ds: Studio) -> None:
    from lakeworks.catalog.impact import impact

    ds.write("sales", "by_region", BY_REGION)
    ds.write("sales", "orders", TABLE_MODE)
    ds.publish("sales/by_region")
    ds.publish("sales/orders")
    db = ds.api.services.db
    day = impact(db, "sales-lab", "prod", "orders", "day")
    assert [(d.kind, d.name) for d in day.dependents] == [("data_api", "sales/by_region")]
    table = impact(db, "sales-lab", "prod", "orders", None)
    assert {d.name for d in table.dependents} == {"sales/by_region", "sales/orders"}
    found = ds.client.get(ds.url("/impact?table=orders&column=amount"), headers=ds.owner)
    assert {i["api"] for i in found.json()["items"]} == {"sales/by_region", "sales/orders"}
    ds.client.post(ds.url("/apis/sales/by_region/unpublish"), headers=ds.owner)
    after = impact(db, "sales-lab", "prod", "orders", "day")
    assert after.dependents == ()


def test_developers_test_an_api_in_dev_through_the_rest_api(ds: Studio) -> None:
    from lakeworks.security.permissions import Role

    ds.write("sales", "by_region", BY_REGION)
    developer = ds.api.member("dev", Role.DEVELOPER)
    viewer = ds.api.member("view", Role.VIEWER)
    url = ds.url("/apis/sales/by_region/test")
    body = {"parameters": {"region": "west", "ids": [2, 4]}}
    tested = ds.client.post(url, json=body, headers=developer)
    assert tested.status_code == 200, tested.text
    answer = tested.json()
    assert [r["id"] for r in answer["data"]["rows"]] == [2]
    assert "region = ?" in answer["sql"] and answer["bound"][:3] == ["west", "2", "4"]
    assert answer["seconds"] > 0
    assert ds.client.post(url, json=body, headers=viewer).status_code == 403
    publish = ds.client.post(ds.url("/apis/sales/by_region/publish"), json={}, headers=developer)
    assert publish.status_code == 403
    listed = ds.client.get(ds.url("/apis"), headers=viewer).json()["items"]
    assert listed[0]["key"] == "sales/by_region" and listed[0]["published"] is None


def test_testing_an_api_over_a_missing_table_says_which_table(ds: Studio) -> None:
    ghost = "sql: SELECT id FROM no_such_table WHERE id = ${id}\n"
    ds.write("sales", "ghost", ghost + "parameters: [{name: id, type: integer}]\n")
    tested = ds.client.post(
        ds.url("/apis/sales/ghost/test"), json={"parameters": {"id": 1}}, headers=ds.owner
    )
    assert 400 <= tested.status_code < 500, tested.text
    error = tested.json()["error"]
    assert "no_such_table" in error["message"] and "lakeworks run" in error["details"]["hint"]
