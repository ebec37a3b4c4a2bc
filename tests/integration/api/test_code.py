"""Editing workflows and nodes through the API keeps the dev folder loadable."""

from __future__ import annotations

from lakeworks.security.permissions import Role
from tests.integration.api.conftest import WORKSPACE, Api

WF = f"/api/workspaces/{WORKSPACE}/workflows/sales_pipeline"
DAILY_FILE = "workflows/sales_pipeline/02_build_sales_daily.sql"

NEW_NODE = """-- ---
-- description: Top customers by revenue.
-- ---
INSERT OVERWRITE TABLE ads_top_customers
SELECT customer_id, SUM(amount) AS revenue FROM sales_raw GROUP BY customer_id;
"""


def test_reading_a_node_shows_its_file_settings_and_tables(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    node = api.client.get(f"{WF}/nodes/02_build_sales_daily", headers=viewer).json()
    assert node["kind"] == "sql"
    assert node["file"] == DAILY_FILE
    assert node["reads"] == ["sales_raw"] and node["writes"] == ["sales_daily"]
    assert node["settings"]["retries"] == 2  # inherited from workflow.yml
    assert node["content"] == (api.home / DAILY_FILE).read_text()
    assert len(node["hash"]) == 64


def test_a_new_node_is_validated_written_and_becomes_part_of_the_graph(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    created = api.client.put(
        f"{WF}/nodes/03_top_customers", json={"kind": "sql", "content": NEW_NODE}, headers=dev
    )
    assert created.status_code == 200, created.text
    assert (api.home / "workflows/sales_pipeline/03_top_customers.sql").read_text() == NEW_NODE
    node = api.client.get(f"{WF}/nodes/03_top_customers", headers=dev).json()
    assert node["writes"] == ["ads_top_customers"]
    again = api.client.put(
        f"{WF}/nodes/03_top_customers", json={"kind": "sql", "content": NEW_NODE}, headers=dev
    )
    assert again.status_code == 200  # without base_hash the node is overwritten


def test_an_edit_that_breaks_the_workspace_is_refused_and_nothing_is_written(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    before = (api.home / DAILY_FILE).read_text()
    broken = before.replace("FROM sales_raw", "FROM sales_raw WHERE")
    response = api.client.put(
        f"{WF}/nodes/02_build_sales_daily", json={"content": broken}, headers=dev
    )
    assert response.status_code == 400
    error = response.json()["error"]
    problem = error["details"]["problems"][0]
    assert problem["location"]["file"] == DAILY_FILE
    assert problem["location"]["line"] == 19
    assert (api.home / DAILY_FILE).read_text() == before
    writes_twice = NEW_NODE.replace("ads_top_customers", "sales_daily")
    clash = api.client.put(
        f"{WF}/nodes/03_second_writer", json={"kind": "sql", "content": writes_twice}, headers=dev
    )
    assert clash.status_code == 400
    assert "written by two nodes" in clash.text
    assert not (api.home / "workflows/sales_pipeline/03_second_writer.sql").exists()


def test_a_stale_edit_is_a_conflict(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    node = api.client.get(f"{WF}/nodes/02_build_sales_daily", headers=dev).json()
    first = node["content"].replace("COUNT(1)", "COUNT(*)")
    ok = api.client.put(
        f"{WF}/nodes/02_build_sales_daily",
        json={"content": first, "base_hash": node["hash"]},
        headers=dev,
    )
    assert ok.status_code == 200
    late = api.client.put(
        f"{WF}/nodes/02_build_sales_daily",
        json={"content": node["content"], "base_hash": node["hash"]},
        headers=dev,
    )
    assert late.status_code == 409
    assert "changed since it was read" in late.json()["error"]["message"]
    assert "COUNT(*)" in (api.home / DAILY_FILE).read_text()


def test_a_node_others_depend_on_cannot_be_deleted(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    refused = api.client.delete(f"{WF}/nodes/01_create_and_load_sales_raw", headers=dev)
    assert refused.status_code == 400
    assert "depends on unknown node" in refused.text
    assert api.client.delete(f"{WF}/nodes/02_build_sales_daily", headers=dev).status_code == 200
    assert not (api.home / DAILY_FILE).exists()


def test_workflows_are_created_and_removed(api: Api) -> None:
    dev = api.member("dev", Role.DEVELOPER)
    base = f"/api/workspaces/{WORKSPACE}/workflows"
    bad_yaml = {"content": "schedule: {cycle: fortnight}\n"}
    bad = api.client.put(f"{base}/reports", json=bad_yaml, headers=dev)
    assert bad.status_code == 400
    problem = bad.json()["error"]["details"]["problems"][0]
    assert problem["location"]["file"] == "workflows/reports/workflow.yml"
    assert problem["location"]["line"] == 1
    good = api.client.put(
        f"{base}/reports", json={"content": "schedule: {cycle: day, at: '06:00'}\n"}, headers=dev
    )
    assert good.status_code == 200
    names = [w["name"] for w in api.client.get(base, headers=dev).json()["items"]]
    assert names == ["reports", "sales_pipeline"]
    assert api.client.delete(f"{base}/reports", headers=dev).status_code == 200
    assert not (api.home / "workflows/reports").exists()


def test_render_fills_in_parameters(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    dev = api.member("dev", Role.DEVELOPER)
    node = NEW_NODE.replace(
        "GROUP BY customer_id",
        "WHERE SUBSTR(CAST(order_ts AS STRING), 1, 10) = '${yyyy-mm-dd}' GROUP BY customer_id",
    )
    saved = api.client.put(f"{WF}/nodes/03_top", json={"kind": "sql", "content": node}, headers=dev)
    assert saved.status_code == 200, saved.text
    rendered = api.client.get(
        f"{WF}/nodes/03_top/render", params={"bizdate": "20260410"}, headers=viewer
    ).json()
    assert "= '2026-04-10' GROUP BY" in rendered["code"]
    translated = api.client.get(
        f"{WF}/nodes/03_top/render",
        params={"bizdate": "20260410", "translated": "true"},
        headers=viewer,
    ).json()
    assert translated["statements"][0]["atomic"] is True
    unknown = api.client.get(
        f"{WF}/nodes/03_top/render", params={"bizdate": "2026-99-99"}, headers=viewer
    )
    assert unknown.status_code == 400


def test_validate_reports_the_whole_workspace(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    result = api.client.post(f"/api/workspaces/{WORKSPACE}/validate", headers=viewer).json()
    assert result["ok"] is True and result["nodes"] == 2
    (api.home / "workflows/sales_pipeline/09_broken.sql").write_text("SELECT FROM WHERE;\n")
    result = api.client.post(f"/api/workspaces/{WORKSPACE}/validate", headers=viewer).json()
    assert result["ok"] is False
    assert result["problems"][0]["file"] == "workflows/sales_pipeline/09_broken.sql"
