"""Sub-workflow nodes in a real run: the called workflow runs as a unit, for the
caller's business date, with the caller's parameters; its failure is the caller's."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeworks.errors import ValidationFailed
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.outputs import OutputRepository
from lakeworks.store.repositories import InstanceRepository, LogRepository
from tests.integration.runtime.test_control_flow import by_name, make, run


def caller_files(step_exit: int = 0) -> dict[str, str]:
    return {
        "daily/prepare.sh": "echo prepared\n",
        "daily/call_export.subflow.yml": (
            "workflow: export\ndepends_on: [prepare]\n"
            "parameters: {target: 'warehouse-${bizdate}'}\n"
        ),
        "daily/after.sh": "# ---\n# depends_on: [call_export]\n# ---\necho after\n",
        "export/extract.sh": 'echo "extract to ${target} for ${bizdate}"\n',
        "export/publish.sh": (
            f'# ---\n# depends_on: [extract]\n# ---\necho "publish ${{target}}"\nexit {step_exit}\n'
        ),
    }


def test_a_sub_workflow_runs_the_called_workflow_as_part_of_the_run(tmp_path: Path) -> None:
    root = make(tmp_path, caller_files())
    ws = load_workspace(root)
    assert list(ws.workflows) == ["daily"]  # the called workflow is not scheduled on its own
    assert list(ws.called) == ["export"]
    summary, _, logs = run(root)
    assert summary.ok
    assert by_name(summary) == {
        "prepare": ("success", None),
        "call_export": ("success", None),
        "after": ("success", None),
    }
    db = Database.open(default_database_url(ws.state_dir))
    try:
        caller = next(i for i in summary.instances if i.node_key == "daily.call_export")
        (called,) = OutputRepository(db).iterations(caller.id)
        assert (called.item, called.state) == ("export", "success")
        inner = InstanceRepository(db).list(run_id=called.run_id)
        assert [(i.node_key, str(i.state), i.bizdate) for i in inner] == [
            ("export.extract", "success", "20260411"),
            ("export.publish", "success", "20260411"),
        ]
        extract_log = "\n".join(line.text for line in LogRepository(db).read(inner[0].id))
        assert "extract to warehouse-20260411 for 20260411" in extract_log
    finally:
        db.close()
    assert "workflow export succeeded" in logs[caller.id]


def test_a_failing_called_workflow_fails_the_caller_and_blocks_what_follows(
    tmp_path: Path,
) -> None:
    summary, _, _ = run(make(tmp_path, caller_files(step_exit=3)))
    states = by_name(summary)
    assert states["call_export"][0] == "failed"
    assert states["after"][0] == "blocked"
    caller = next(i for i in summary.instances if i.node_key == "daily.call_export")
    assert caller.reason is not None and "export.publish (failed)" in caller.reason, caller.reason


@pytest.mark.parametrize(
    ("files", "message", "line"),
    [
        ({"a/call.subflow.yml": "workflow: nowhere\n"}, "workflow 'nowhere', which does not", 1),
        (
            {
                "a/call.subflow.yml": "# the export\nworkflow: b\n",
                "b/workflow.yml": "schedule: {cycle: hour}\n",
                "b/x.sh": "echo x\n",
            },
            "has a schedule of its own",
            2,
        ),
        (
            {
                "a/x.sh": "echo a\n",
                "b/call_c.subflow.yml": "workflow: c\n",
                "c/call_b.subflow.yml": "workflow: b\n",
            },
            "calls itself",
            1,
        ),
    ],
)
def test_bad_sub_workflow_calls_are_reported_at_their_file_and_line(
    tmp_path: Path, files: dict[str, str], message: str, line: int
) -> None:
    root = make(tmp_path, files)
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(root)
    found = [e for e in caught.value.errors if message in str(e)]
    assert found, [str(e) for e in caught.value.errors]
    assert found[0].location is not None and found[0].location.line == line
    assert str(found[0].location.file).endswith(".subflow.yml")


def test_a_sub_workflow_node_reads_and_writes_what_its_workflow_does(tmp_path: Path) -> None:
    from lakeworks.schedule.graph import build_graph

    root = make(
        tmp_path,
        {
            "daily/stage.sql": "CREATE OR REPLACE TABLE stg_orders AS SELECT 1 AS id;\n",
            "daily/call.subflow.yml": "workflow: publish\n",
            "daily/after.sql": "CREATE OR REPLACE TABLE ads_report AS SELECT * FROM pub_orders;\n",
            "publish/copy.sql": "CREATE OR REPLACE TABLE pub_orders AS SELECT * FROM stg_orders;\n",
        },
    )
    graph = build_graph(load_workspace(root))
    assert graph.upstream("daily.call") == ["daily.stage"]  # it reads stg_orders
    assert graph.upstream("daily.after") == ["daily.call"]  # it writes pub_orders
