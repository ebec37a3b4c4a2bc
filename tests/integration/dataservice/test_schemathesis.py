"""Schemathesis generates requests from the published OpenAPI document (every declared
parameter, in and out of its bounds) and calls every API as a granted application: no
answer is a server error."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.dataservice.conftest import Studio, bearer
from tests.integration.dataservice.test_gateway import BY_REGION, TABLE_MODE

TYPED = """
    method: POST
    sql: |
      SELECT id, region, amount, day, paid FROM orders
      <where>
        <if test="least != null"> AND amount &gt;= ${least}</if>
        <if test="since != null"> AND day &gt;= ${since}</if>
        <if test="at != null"> AND CAST(day AS TIMESTAMP) &lt;= ${at}</if>
        <if test="paid != null"> AND paid = ${paid}</if>
        <if test="ids != null"> AND id IN
          <foreach collection="ids" item="i" open="(" separator="," close=")">${i}</foreach>
        </if>
      </where>
      <choose>
        <when test="sort == 'amount'"> ORDER BY amount, id</when>
        <otherwise> ORDER BY id</otherwise>
      </choose>
    parameters:
      - {name: least, type: number, minimum: 0, maximum: 1000}
      - {name: since, type: date}
      - {name: at, type: datetime}
      - {name: paid, type: boolean}
      - {name: ids, type: "list[integer]", max_items: 20}
      - {name: sort, type: string, enum: [id, amount]}
    response:
      - {name: id, type: integer}
      - {name: region, type: string}
      - {name: amount, type: number}
      - {name: day, type: date}
      - {name: paid, type: boolean}
"""


def test_generated_requests_never_get_a_server_error(ds: Studio) -> None:
    ds.write("sales", "by_region", BY_REGION)
    ds.write("sales", "orders", TABLE_MODE)
    ds.write("sales", "typed", TYPED)
    for api in ("sales/by_region", "sales/orders", "sales/typed"):
        ds.publish(api)
    app = ds.app("fuzz", "sales/by_region", "sales/orders", "sales/typed")
    schema = schemathesis.openapi.from_asgi("/dataservice/openapi.json", ds.api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 3
    seen: list[int] = []
    strategy = st.one_of(*(op.as_strategy() for op in operations))

    @settings(
        max_examples=80,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: schemathesis.Case) -> None:
        response = case.call(headers=bearer(app))
        seen.append(response.status_code)
        assert response.status_code < 500, (case.path, case.query, case.body, response.text)

    call()
    assert 200 in seen
