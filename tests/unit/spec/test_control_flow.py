"""Control flow in the core: the safe evaluator, outputs, and what validation reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import ValidationFailed
from lakeworks.schedule.control_flow import branch_skips, merge_holds, taken_output
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.states import InstanceState
from lakeworks.spec.expressions import ExpressionError, parse_expression
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.outputs import (
    MAX_OUTPUT_BYTES,
    OutputTooLarge,
    as_parameter,
    encode_output,
    split_printed,
)


def make(root: Path, files: dict[str, str]) -> Path:
    (root / "lakeworks.yml").write_text("name: cf\n", encoding="utf-8")
    for rel, text in files.items():
        path = root / "workflows" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_expressions_compare_test_membership_and_combine() -> None:
    expr = parse_expression("mode[0] == 'full' and 'hz' in regions or len(regions) > 3")
    assert expr.names == {"mode", "regions"}
    assert expr.evaluate({"mode": ["full"], "regions": ["hz", "sh"]}) is True
    assert expr.evaluate({"mode": ["inc"], "regions": ["a", "b", "c", "d"]}) is True
    assert expr.evaluate({"mode": ["inc"], "regions": ["hz"]}) is False
    assert parse_expression("not x").evaluate({"x": False}) is True
    assert parse_expression("int(n[0]) * 2 >= 10").evaluate({"n": ["5"]}) is True


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "x.__class__",
        "open('/etc/passwd')",
        "[c for c in x]",
        "lambda: 1",
        "x[1:2]",
        "x if y else z",
    ],
)
def test_expressions_refuse_anything_but_the_small_language(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse_expression(text)


def test_an_unknown_input_is_named_with_the_known_ones() -> None:
    with pytest.raises(ExpressionError, match=r"unknown input 'regoins'.*inputs: mode, regions"):
        parse_expression("'hz' in regoins", frozenset({"regions", "mode"}))


def test_an_expression_that_cannot_be_evaluated_shows_the_values() -> None:
    with pytest.raises(ExpressionError, match=r"IndexError.*mode=\[\]"):
        parse_expression("mode[0] == 'full'").evaluate({"mode": []})


def test_printed_lines_split_on_commas_and_escaped_commas_stay() -> None:
    assert split_printed("hz,sh,bj") == ["hz", "sh", "bj"]
    assert split_printed(r"a\,b,c") == ["a,b", "c"]
    assert split_printed("") == []
    assert as_parameter(["hz", "sh"]) == "hz,sh"
    assert as_parameter([["hz"], ["sh"]]) == "hz,sh"
    assert as_parameter([["hz", "1"], ["sh", "2"]]) == "hz,1;sh,2"


def test_an_output_over_2_mb_is_refused() -> None:
    encode_output(["x" * (MAX_OUTPUT_BYTES - 10)])
    with pytest.raises(OutputTooLarge, match="over the limit of 2,097,152 bytes"):
        encode_output(["x" * MAX_OUTPUT_BYTES])


PIPELINE = {
    "p/assign_mode.py": "# ---\n# output: true\n# ---\nprint('full')\n",
    "p/route.branch.yml": (
        "inputs: {mode: assign_mode.outputs}\n"
        "conditions:\n"
        "  - when: \"mode[0] == 'full'\"\n"
        "    output: full\n"
        "  - when: 'true'\n"
        "    output: incremental\n"
    ),
    "p/load_full.sh": "# ---\n# branch: {route: full}\n# ---\necho full\n",
    "p/load_inc.sh": "# ---\n# branch: {route: incremental}\n# ---\necho inc\n",
    "p/after_inc.sh": "# ---\n# depends_on: [load_inc]\n# ---\necho after\n",
    "p/join.merge.yml": "depends_on: [load_full, after_inc]\ncondition: any\n",
    "p/report.sh": "# ---\n# depends_on: [join]\n# ---\necho report\n",
}


def test_bindings_and_branches_are_same_cycle_dependencies(tmp_path: Path) -> None:
    graph = build_graph(load_workspace(make(tmp_path, PIPELINE)))
    assert graph.upstream("p.route") == ["p.assign_mode"]
    assert graph.upstream("p.load_full") == ["p.route"]
    assert graph.upstream("p.join") == ["p.after_inc", "p.load_full"]


def test_a_branch_skips_the_other_outputs_and_their_descendants_until_a_merge(
    tmp_path: Path,
) -> None:
    workspace = load_workspace(make(tmp_path, PIPELINE))
    graph = build_graph(workspace)
    route = graph.nodes["p.route"]
    assert taken_output(route, {"mode": ["full"]}) == "full"
    assert taken_output(route, {"mode": ["inc"]}) == "incremental"
    assert branch_skips(graph, "p.route", "full") == ["p.load_inc", "p.after_inc"]
    assert branch_skips(graph, "p.route", "incremental") == ["p.load_full"]


def test_merge_conditions_over_upstream_states() -> None:
    ok, skipped, failed = InstanceState.SUCCESS, InstanceState.SKIPPED, InstanceState.FAILED
    assert merge_holds("all", {"a": ok, "b": skipped})
    assert not merge_holds("all", {"a": ok, "b": failed})
    assert merge_holds("any", {"a": skipped, "b": ok})
    assert not merge_holds("any", {"a": skipped, "b": skipped})
    assert merge_holds("a == 'failed' and b != 'failed'", {"a": failed, "b": ok})


def _problems(root: Path) -> str:
    with pytest.raises(ValidationFailed) as info:
        load_workspace(root)
    return "\n".join(e.render() for e in info.value.errors)


def test_validate_names_an_unknown_input_in_a_branch_at_its_line(tmp_path: Path) -> None:
    files = dict(PIPELINE)
    files["p/route.branch.yml"] = (
        "inputs: {mode: assign_mode.outputs}\n"
        "conditions:\n"
        "  - when: \"mdoe[0] == 'full'\"\n"
        "    output: full\n"
        "  - when: __import__('os')\n"
        "    output: incremental\n"
    )
    text = _problems(make(tmp_path, files))
    assert "route.branch.yml:3" in text and "unknown input 'mdoe'" in text
    assert "route.branch.yml:5" in text and "Attribute" not in text


def test_validate_reports_bad_bindings_and_branch_references(tmp_path: Path) -> None:
    files = dict(PIPELINE)
    files["p/uses.sh"] = (
        "# ---\n# inputs: {a: nowhere.outputs, b: load_full.outputs, c: load_full}\n"
        "# branch: {route: partial}\n# ---\necho $a\n"
    )
    text = _problems(make(tmp_path, files))
    assert "unknown node 'nowhere'" in text
    assert "load_full, which publishes no output" in text
    assert "'load_full', which is not '<node>.outputs'" in text
    assert "has no output 'partial'" in text and "its outputs: full, incremental" in text


def test_a_branch_takes_at_most_50_conditions(tmp_path: Path) -> None:
    conditions = "".join(f"  - when: 'true'\n    output: o{i}\n" for i in range(51))
    files = {"p/route.branch.yml": "conditions:\n" + conditions}
    assert "route.branch.yml:1" in (text := _problems(make(tmp_path, files)))
    assert "at most 50 items" in text


def test_validate_checks_loop_bodies_and_their_items(tmp_path: Path) -> None:
    files = {
        "p/assign.sh": "# ---\n# output: true\n# ---\necho a,b\n",
        "p/loop.foreach.yml": "inputs: {xs: assign.outputs}\nitems: ys\nbody: body\n",
        "p/other.foreach.yml": "inputs: {xs: assign.outputs}\nitems: xs\nbody: missing\n",
    }
    text = _problems(make(tmp_path, files))
    assert "loop.foreach.yml:2" in text and "items: 'ys' is not one of the inputs" in text
    assert "other.foreach.yml:3" in text and "loop body folder 'missing' does not exist" in text


def test_a_loop_reads_and_writes_what_its_body_does(tmp_path: Path) -> None:
    files = {
        "p/assign.sh": "# ---\n# output: true\n# ---\necho a,b\n",
        "p/loop.foreach.yml": "inputs: {xs: assign.outputs}\nitems: xs\nbody: body\n",
        "p/body/load.sql": (
            "INSERT INTO region_sales SELECT * FROM ods_sales "
            "WHERE region = '${dag.foreach.current}';\n"
        ),
        "p/ods.sql": "CREATE TABLE IF NOT EXISTS ods_sales (region VARCHAR);\n",
        "p/report.sql": "INSERT INTO report SELECT count(*) FROM region_sales;\n",
    }
    graph = build_graph(load_workspace(make(tmp_path, files)))
    assert graph.io["p.loop"].reads == {"ods_sales"}
    assert graph.upstream("p.loop") == ["p.assign", "p.ods"]
    assert graph.upstream("p.report") == ["p.loop"]
    assert "p/body.load" not in graph.nodes


def test_json_paths_select_outputs_and_bad_ones_are_reported(tmp_path: Path) -> None:
    from lakeworks.spec.outputs import json_path_output

    doc = {"data": {"items": [{"id": 1}, {"id": 2}], "rows": [[1, "a"], [2, None]]}}
    assert json_path_output(doc, "$.data.items[1].id") == ["2"]
    assert json_path_output(doc, "$.data.rows") == [["1", "a"], ["2", None]]
    assert json_path_output(doc, "data['items'][0]") == ['{"id": 1}']
    with pytest.raises(ValueError, match="no 'missing'"):
        json_path_output(doc, "$.data.missing")
    files = {"p/call.http.yml": "url: http://127.0.0.1:1/x\noutput_path: $.a b\n"}
    text = _problems(make(tmp_path, files))
    assert "call.http.yml:2" in text and "cannot read ' b'" in text


def test_a_check_names_one_table_file_or_stream(tmp_path: Path) -> None:
    files = {
        "p/both.check.yml": "table: ods\nfile: a.csv\n",
        "p/twice.check.yml": "table: ods\nstream: wf.orders\n",
        "p/part.check.yml": "file: a.csv\npartition: ds=1\n",
    }
    text = _problems(make(tmp_path, files))
    assert "both.check.yml:1" in text and "one of 'table'" in text
    assert "twice.check.yml:1" in text
    assert "'partition' needs a 'table'" in text


def test_a_do_while_needs_an_end_node_with_an_output_in_its_body(tmp_path: Path) -> None:
    files = {
        "p/a.dowhile.yml": "body: body\nend: nowhere\n",
        "p/b.dowhile.yml": "body: body\nend: step\nmax_loops: 1025\n",
        "p/c.dowhile.yml": "body: body\nend: step\n",
        "p/body/step.sh": "echo hi\n",
    }
    text = _problems(make(tmp_path, files))
    assert "a.dowhile.yml:2" in text and "end node 'nowhere' is not in the loop body" in text
    assert "b.dowhile.yml:3" in text and "less than or equal to 1024" in text
    assert "c.dowhile.yml:2" in text and "end node 'step' publishes no output" in text
