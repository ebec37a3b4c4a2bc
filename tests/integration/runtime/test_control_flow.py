"""Outputs, bindings, branch and merge nodes in a real run (SQLite store, DuckDB)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.runtime.runner import ManualRunner, RunSummary
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import LogRepository

BIZDATE = date(2026, 4, 11)


@pytest.fixture(autouse=True)
def _close_warehouses() -> Iterator[None]:
    yield
    close_all()


def make(root: Path, files: dict[str, str]) -> Path:
    (root / "lakeworks.yml").write_text("name: cf\n", encoding="utf-8")
    for rel, text in files.items():
        path = root / "workflows" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run(root: Path) -> tuple[RunSummary, dict[int, str | None], dict[int, str]]:
    """The summary, each instance's stored output and its log, by instance id."""
    ws = load_workspace(root)
    db = Database.open(default_database_url(ws.state_dir))
    try:
        summary = ManualRunner(ws, db, engine_for(ws, "dev"), "dev").run(BIZDATE, [])
        outputs = {i.id: OutputRepository(db).get(i.id) for i in summary.instances}
        logs = LogRepository(db)
        texts = {i.id: "\n".join(line.text for line in logs.read(i.id)) for i in summary.instances}
        return summary, outputs, texts
    finally:
        db.close()


def by_name(summary: RunSummary) -> dict[str, tuple[str, str | None]]:
    return {i.node_key.split(".")[-1]: (str(i.state), i.reason) for i in summary.instances}


def pipeline(mode: str) -> dict[str, str]:
    return {
        "p/assign_mode.py": f"# ---\n# output: true\n# ---\nprint('starting')\nprint('{mode}')\n",
        "p/assign_regions.sql": (
            "-- ---\n-- output: true\n-- ---\n"
            "SELECT region FROM (VALUES ('hz'), ('sh')) AS t(region) ORDER BY region;\n"
        ),
        "p/route.branch.yml": (
            "inputs: {mode: assign_mode.outputs}\n"
            "conditions:\n"
            "  - when: \"mode[0] == 'full'\"\n"
            "    output: full\n"
            "  - when: 'true'\n"
            "    output: incremental\n"
        ),
        "p/load_full.sh": (
            "# ---\n# branch: {route: full}\n# inputs: {regions: assign_regions.outputs}\n"
            '# ---\necho "full load of ${regions}"\n'
        ),
        "p/load_inc.sh": "# ---\n# branch: {route: incremental}\n# ---\necho inc\n",
        "p/after_inc.sh": "# ---\n# depends_on: [load_inc]\n# ---\necho after\n",
        "p/join.merge.yml": "depends_on: [load_full, after_inc]\ncondition: any\n",
        "p/report.sh": "# ---\n# depends_on: [join]\n# ---\necho report\n",
    }


def test_the_branch_taken_runs_the_others_are_skipped_and_the_merge_goes_on(
    tmp_path: Path,
) -> None:
    summary, outputs, logs = run(make(tmp_path, pipeline("full")))
    assert summary.ok, by_name(summary)
    states = by_name(summary)
    assert states["load_full"][0] == "success"
    assert states["load_inc"] == ("skipped", "branch not taken")
    assert states["after_inc"] == ("skipped", "branch not taken")
    assert states["join"][0] == "success" and states["report"][0] == "success"
    ids = {i.node_key.split(".")[-1]: i.id for i in summary.instances}
    assert outputs[ids["assign_mode"]] == '["full"]'
    assert outputs[ids["assign_regions"]] == '[["hz"],["sh"]]'
    assert outputs[ids["route"]] == '["full"]'
    assert "full load of hz,sh" in logs[ids["load_full"]]
    assert "branch taken: full" in logs[ids["route"]]


def test_the_other_condition_takes_the_other_path(tmp_path: Path) -> None:
    summary, _outputs, _logs = run(make(tmp_path, pipeline("incremental")))
    states = by_name(summary)
    assert states["load_full"] == ("skipped", "branch not taken")
    assert states["load_inc"][0] == "success" and states["after_inc"][0] == "success"
    assert states["join"][0] == "success" and states["report"][0] == "success"


def test_a_merge_whose_condition_fails_names_the_states(tmp_path: Path) -> None:
    files = pipeline("full")
    files["p/join.merge.yml"] = "depends_on: [load_full, after_inc]\ncondition: all_ok\n"
    files["p/join.merge.yml"] = (
        "depends_on: [load_full, after_inc]\ncondition: \"after_inc == 'success'\"\n"
    )
    summary, _outputs, _logs = run(make(tmp_path, files))
    states = by_name(summary)
    assert states["join"][0] == "failed"
    assert "after_inc=skipped, load_full=success" in (states["join"][1] or "")
    assert states["report"][0] == "blocked"


def test_an_output_over_2_mb_fails_the_node_and_is_not_stored(tmp_path: Path) -> None:
    files = {
        "p/big.py": "# ---\n# output: true\n# ---\nprint(','.join(['x' * 100] * 30000))\n",
        "p/use.sh": "# ---\n# inputs: {items: big.outputs}\n# ---\necho ok\n",
    }
    summary, outputs, _logs = run(make(tmp_path, files))
    states = by_name(summary)
    assert states["big"][0] == "failed"
    assert "over the limit of 2,097,152 bytes" in (states["big"][1] or "")
    assert states["use"][0] == "blocked"
    assert all(v is None for v in outputs.values())


def test_a_branch_expression_that_cannot_be_evaluated_fails_with_the_values(
    tmp_path: Path,
) -> None:
    files = pipeline("full")
    files["p/assign_mode.py"] = "# ---\n# output: true\n# ---\nprint('')\n"
    summary, _outputs, _logs = run(make(tmp_path, files))
    states = by_name(summary)
    assert states["route"][0] == "failed"
    reason = states["route"][1] or ""
    assert "mode[0] == 'full'" in reason and "mode=[]" in reason


def loop_files(count: int = 3) -> dict[str, str]:
    items = ",".join(f"r{i}" for i in range(count))
    return {
        "p/assign_regions.sh": f"# ---\n# output: true\n# ---\necho '{items}'\n",
        "p/per_region.foreach.yml": (
            "inputs: {regions: assign_regions.outputs}\nitems: regions\nbody: body\nparallel: 2\n"
        ),
        "p/body/stage.sql": (
            "CREATE TABLE IF NOT EXISTS region_loads (region VARCHAR, pos INT, n INT);\n"
            "INSERT INTO region_loads VALUES "
            "('${dag.foreach.current}', ${dag.offset}, ${dag.loopTimes});\n"
        ),
        "p/body/check.sh": (
            "# ---\n# depends_on: [stage]\n# ---\n"
            'if [ "$dag_foreach_current" = "${fail_item:-}" ]; then '
            'echo "bad $dag_foreach_current"; '
            'exit 1; fi\necho "checked $dag_foreach_current ($dag_offset)"\n'
        ),
        "p/after.sh": "# ---\n# depends_on: [per_region]\n# ---\necho done\n",
    }


def test_a_for_each_runs_its_body_per_item_with_the_loop_parameters(tmp_path: Path) -> None:
    root = make(tmp_path, loop_files())
    summary, _outputs, logs = run(root)
    assert summary.ok, by_name(summary)
    ids = {i.node_key.split(".")[-1]: i.id for i in summary.instances}
    assert "3 iterations succeeded" in logs[ids["per_region"]]
    ws = load_workspace(root)
    session = engine_for(ws, "dev").session()
    try:
        rows = session.execute("SELECT region, pos, n FROM region_loads ORDER BY pos").rows
    finally:
        session.close()
    assert [tuple(r) for r in rows] == [("r0", 0, 1), ("r1", 1, 2), ("r2", 2, 3)]


def test_a_rerun_of_a_for_each_runs_only_the_iterations_that_failed(tmp_path: Path) -> None:
    from lakeworks.runtime.execution import InstanceExecutor
    from lakeworks.runtime.ops import rerun
    from lakeworks.store.repositories import InstanceRepository, RunRepository

    root = make(tmp_path, loop_files())
    (root / "lakeworks.yml").write_text("name: cf\nparameters: {fail_item: r1}\n")
    summary, _outputs, _logs = run(root)
    states = by_name(summary)
    assert states["per_region"][0] == "failed"
    assert "1 of 3 iterations failed: item 2 (r1)" in (states["per_region"][1] or "")
    assert states["after"][0] == "blocked"
    (root / "lakeworks.yml").write_text("name: cf\nparameters: {fail_item: none}\n")
    ws = load_workspace(root)
    db = Database.open(default_database_url(ws.state_dir))
    try:
        loop_id = next(i.id for i in summary.instances if i.node_key == "p.per_region")
        runs_before = len(RunRepository(db).list(limit=1000))
        assert rerun(db, "tester", [loop_id]).changed
        instance = InstanceRepository(db).get(loop_id)
        outcome = InstanceExecutor(ws, db, engine_for(ws, "dev"), "dev").run(instance)
        assert outcome is not None and str(outcome.instance.state) == "success"
        assert len(RunRepository(db).list(limit=1000)) == runs_before + 1
        text = "\n".join(line.text for line in LogRepository(db).read(loop_id, attempt=2))
        assert "item 1/3: r0: succeeded before, not run again" in text
        assert "item 2/3: r1: success" in text
        assert [it.state for it in OutputRepository(db).iterations(loop_id)] == ["success"] * 3
    finally:
        db.close()


def test_a_loop_over_1025_items_fails_before_running_any(tmp_path: Path) -> None:
    files = loop_files()
    files["p/assign_regions.py"] = (
        "# ---\n# output: true\n# ---\nprint(','.join(str(i) for i in range(1025)))\n"
    )
    del files["p/assign_regions.sh"]
    summary, _outputs, _logs = run(make(tmp_path, files))
    states = by_name(summary)
    assert states["per_region"][0] == "failed"
    assert "has 1,025 items, over the limit of 1,024" in (states["per_region"][1] or "")
    assert len(summary.instances) == 3


def test_the_regions_example_runs_its_loop_branch_and_merge(tmp_path: Path) -> None:
    from lakeworks.spec.init import init_workspace

    summary, _outputs, _logs = run(init_workspace(tmp_path / "lab", "regions"))
    assert summary.ok, by_name(summary)
    states = by_name(summary)
    assert states["report_incremental"] == ("skipped", "branch not taken")
    assert states["report_full"][0] == "success" and states["done"][0] == "success"
    assert states["publish"][0] == "success"  # the called workflow ran


class _Api:
    """A local HTTP server answering 500 to its first ``failures`` requests, then JSON."""

    def __init__(self, failures: int) -> None:
        import http.server
        import threading

        api = self
        self.failures = failures
        self.seen: list[tuple[str, str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                api.seen.append((self.path, self.headers.get("Authorization", ""), body))
                failing = len(api.seen) <= api.failures
                payload = b'{"error": "busy"}' if failing else b'{"data": {"regions": ["a", "b"]}}'
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_http_call_answered_500_is_retried_and_its_json_becomes_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("H16_API_TOKEN", "tok-secret-123")
    api = _Api(failures=1)
    try:
        files = {
            "p/fetch.http.yml": (
                "retry_delay_seconds: 0\n"
                f"url: '{api.url}/regions?date=${{bizdate}}'\n"
                "method: POST\n"
                "headers: {Authorization: 'Bearer ${secret.TOKEN}'}\n"
                'body: \'{"bizdate": "${bizdate}"}\'\n'
                "secrets: {TOKEN: {env: H16_API_TOKEN}}\n"
                "output_path: $.data.regions\n"
            ),
            "p/use.sh": '# ---\n# inputs: {regions: fetch.outputs}\n# ---\necho "got $regions"\n',
        }
        summary, outputs, logs = run(make(tmp_path, files))
    finally:
        api.close()
    assert summary.ok, by_name(summary)
    ids = {i.node_key.split(".")[-1]: i for i in summary.instances}
    assert ids["fetch"].attempts == 2
    assert outputs[ids["fetch"].id] == '["a","b"]'
    assert "got a,b" in logs[ids["use"].id]
    assert api.seen[-1] == (
        "/regions?date=20260411",
        "Bearer tok-secret-123",
        '{"bizdate": "20260411"}',
    )
    assert "tok-secret-123" not in logs[ids["fetch"].id]


def test_a_check_that_never_holds_waits_between_checks_then_times_out(tmp_path: Path) -> None:
    files = {
        "p/ods_orders.sql": "CREATE TABLE IF NOT EXISTS ods_orders (id INT, ds VARCHAR);\n",
        "p/orders_ready.check.yml": (
            "depends_on: [ods_orders]\ntable: ods_orders\npartition: ds=${bizdate}\n"
            "interval_seconds: 0\nmax_checks: 3\n"
        ),
        "p/file_ready.check.yml": "file: inbox/${bizdate}.csv\ninterval_seconds: 0\n",
    }
    root = make(tmp_path, files)
    (root / "inbox").mkdir()
    (root / "inbox" / "20260411.csv").write_text("id\n", encoding="utf-8")
    summary, _outputs, logs = run(root)
    by_key = {i.node_key.split(".")[-1]: i for i in summary.instances}
    checked = by_key["orders_ready"]
    assert str(checked.state) == "failed" and checked.attempts == 3
    assert checked.reason is not None
    assert "check 3/3: partition ds=20260411 of ods_orders not found" in checked.reason
    assert "gave up after 3 checks" in checked.reason
    assert "check 1/3: partition ds=20260411 of ods_orders not found" in logs[checked.id]
    assert str(by_key["file_ready"].state) == "success"
    assert "check 1/10: file inbox/20260411.csv found" in logs[by_key["file_ready"].id]


def test_a_do_while_runs_its_body_until_the_end_node_says_false(tmp_path: Path) -> None:
    files = {
        "p/poll.dowhile.yml": "body: body\nend: again\nmax_loops: 10\n",
        "p/body/count.sql": (
            "CREATE TABLE IF NOT EXISTS loop_log (n INT);\n"
            "INSERT INTO loop_log VALUES (${dag.loopTimes});\n"
        ),
        "p/body/again.sql": (
            "-- ---\n-- output: true\n-- ---\n"
            "SELECT CASE WHEN COUNT(1) < 3 THEN 'true' ELSE 'false' END FROM loop_log;\n"
        ),
    }
    root = make(tmp_path, files)
    summary, _outputs, logs = run(root)
    assert summary.ok, by_name(summary)
    ws = load_workspace(root)
    session = engine_for(ws, "dev").session()
    try:
        rows = session.execute("SELECT n FROM loop_log ORDER BY n").rows
    finally:
        session.close()
    assert [tuple(r) for r in rows] == [(1,), (2,), (3,)]
    loop = summary.instances[0]
    assert "loop 3: again says stop after 3 loops" in logs[loop.id]


def test_a_do_while_stops_at_its_limit(tmp_path: Path) -> None:
    files = {
        "p/poll.dowhile.yml": "body: body\nend: again\nmax_loops: 2\n",
        "p/body/again.sh": "# ---\n# output: true\n# ---\necho true\n",
    }
    summary, _outputs, _logs = run(make(tmp_path, files))
    loop = summary.instances[0]
    assert str(loop.state) == "failed"
    assert "again still says true after 2 loops (the limit)" in (loop.reason or "")
