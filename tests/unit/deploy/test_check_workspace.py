"""A deployment's validation names the lakeworks.yml line of a bad data source."""

from __future__ import annotations

from pathlib import Path

from lakeworks.deploy.validate import check_workspace


def test_bad_data_source_settings_point_at_their_line(tmp_path: Path) -> None:
    (tmp_path / "lakeworks.yml").write_text(
        "name: d\n"
        "data_sources:\n"
        "  shop:\n"
        "    type: postgres\n"
        "    database: shop\n"
        "    prot: 5433\n"
        "  lake: {type: files, root: lake}\n"
    )
    _, report = check_workspace(tmp_path)
    (problem,) = report.problems
    assert (problem.file, problem.line) == ("lakeworks.yml", 6)
    assert "prot" in problem.message
