"""Unknown columns are found before anything runs, at their own line and column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeworks.catalog.column_check import column_problems
from lakeworks.deploy.snapshot import snapshot_folder
from lakeworks.deploy.validate import validate_files
from lakeworks.engines.duckdb_engine import close_all
from lakeworks.spec.loader import load_workspace
from tests.integration.runtime.test_runner import run
from tests.integration.scheduler.test_partition_backfill import NODES, write_pipeline


@pytest.fixture(autouse=True)
def _close_warehouses() -> Iterator[None]:
    yield
    close_all()


def misspelt(root: Path) -> Path:
    write_pipeline(root)
    ads = root / "workflows" / "sales" / "ads_week.sql"
    ads.write_text(ads.read_text().replace("SUM(total) AS total", "SUM(totl) AS total"))
    return root


def test_a_misspelt_column_of_an_upstream_nodes_table(tmp_path: Path) -> None:
    root = misspelt(tmp_path / "ws")
    (problem,) = column_problems(load_workspace(root))
    assert problem.message == "unknown column 'totl'"
    assert problem.location.file is not None and problem.location.file.name == "ads_week.sql"
    assert (problem.location.line, problem.location.column) == (3, 12)
    assert problem.hint == "did you mean 'total'?"
    report = validate_files(snapshot_folder(root).files)  # what deploy checks
    assert [(p.file, p.line, p.column, p.message) for p in report.problems] == [
        ("workflows/sales/ads_week.sql", 3, 12, "unknown column 'totl'")
    ]


def test_catalogued_tables_are_checked_and_unknown_ones_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_pipeline(root)
    ods = root / "workflows" / "sales" / "ods_orders.sql"
    ods.write_text(
        "INSERT OVERWRITE TABLE ods_orders PARTITION (ds='${bizdate}')\n"
        "SELECT k, amout AS amount FROM shop_orders WHERE ds = '${bizdate}';\n"
    )
    ws = load_workspace(root)
    assert column_problems(ws) == []  # shop_orders: columns unknown, nothing to say
    (problem,) = column_problems(ws, {"shop_orders": ("k", "amount", "ds")})
    assert (problem.message, problem.location.line, problem.hint) == (
        "unknown column 'amout'",
        2,
        "did you mean 'amount'?",
    )


def test_the_pipeline_as_written_has_no_column_problems(tmp_path: Path) -> None:
    write_pipeline(tmp_path / "ws")
    assert column_problems(load_workspace(tmp_path / "ws")) == []
    assert set(NODES) == {"ods_orders", "dwd_orders", "dws_daily", "ads_week"}


def test_an_engine_error_points_at_the_users_line(tmp_path: Path) -> None:
    root = misspelt(tmp_path / "ws")
    summary = run(root)
    failed = next(i for i in summary.instances if i.node_key == "sales.ads_week")
    assert failed.reason is not None
    assert failed.reason.startswith("ads_week.sql:3: ")  # the INSERT starts on line 2
    assert '"totl"' in failed.reason


def _catalog(ws: object) -> dict[str, tuple[str, ...]]:
    return {"shop_orders": ("k", "amount", "ds"), "dim_city": ("k", "name")}


def test_deploy_checks_columns_against_the_catalog(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_pipeline(root)
    ods = root / "workflows" / "sales" / "ods_orders.sql"
    ods.write_text(
        "INSERT OVERWRITE TABLE ods_orders PARTITION (ds='${bizdate}')\n"
        "SELECT k, amout AS amount FROM shop_orders WHERE ds = '${bizdate}';\n"
    )
    files = snapshot_folder(root).files
    assert validate_files(files).problems == []  # no catalog: shop_orders is unknown
    report = validate_files(files, catalog=_catalog)
    assert [(p.file, p.line, p.column, p.message, p.hint) for p in report.problems] == [
        (
            "workflows/sales/ods_orders.sql",
            2,
            11,
            "unknown column 'amout'",
            "did you mean 'amount'?",
        )
    ]


def test_a_misspelt_table_is_reported_with_the_closest_names(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_pipeline(root)
    dws = root / "workflows" / "sales" / "dws_daily.sql"
    dws.write_text(dws.read_text().replace("FROM dwd_orders", "FROM dwd_ordres"))
    ods = root / "workflows" / "sales" / "ods_orders.sql"
    ods.write_text(
        "INSERT OVERWRITE TABLE ods_orders PARTITION (ds='${bizdate}')\n"
        "SELECT k, amount FROM shop_ordres WHERE ds = '${bizdate}';\n"
    )
    ws = load_workspace(root)
    problems = column_problems(ws, _catalog(ws))
    found = sorted((p.location.line, p.message, p.hint) for p in problems)
    assert found == [
        (
            2,
            "unknown table 'shop_ordres': no node writes it and the catalog does not know it",
            "did you mean 'shop_orders' or 'ods_orders'?",
        ),
        (
            3,
            "unknown table 'dwd_ordres': no node writes it and the catalog does not know it",
            "did you mean 'dwd_orders' or 'ods_orders'?",
        ),
    ]
    assert column_problems(ws) == []  # without a catalog nothing says which tables exist


def test_validate_reuses_each_unchanged_nodes_analysis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakeworks.catalog import column_check
    from lakeworks.schedule.graph import build_graph

    root = misspelt(tmp_path / "ws")
    cache = tmp_path / "cache"
    analysed: list[list[str] | None] = []
    real = column_check.analyse_workspace

    def counting(*args: object, **kwargs: object) -> object:
        only = kwargs.get("only")
        analysed.append(list(only) if only is not None else None)  # type: ignore[call-overload]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(column_check, "analyse_workspace", counting)

    def check() -> list[tuple[int | None, str]]:
        ws = load_workspace(root)
        found = column_problems(ws, graph=build_graph(ws), cache_dir=cache)
        return [(p.location.line, p.message) for p in found]

    assert check() == [(3, "unknown column 'totl'")]
    assert analysed == [None]  # the first time: the whole workspace at once
    assert (cache / "column_check.json").is_file()
    analysed.clear()
    assert check() == [(3, "unknown column 'totl'")]
    assert analysed == []  # nothing changed: nothing analysed again
    ads = root / "workflows" / "sales" / "ads_week.sql"
    ads.write_text(ads.read_text().replace("SUM(totl)", "SUM(total)"))
    assert check() == []
    assert analysed == [["sales.ads_week"]]  # only the node that changed
    analysed.clear()
    dws = root / "workflows" / "sales" / "dws_daily.sql"
    dws.write_text(dws.read_text().replace("total", "total_amount"))
    assert check() == [(3, "unknown column 'total'")]  # its reader is checked again
    assert analysed == [["sales.dws_daily"], ["sales.ads_week"]]


def test_a_run_that_reads_a_misspelt_table_names_the_closest_ones(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_pipeline(root)
    ads = root / "workflows" / "sales" / "ads_week.sql"
    ads.write_text(ads.read_text().replace("FROM dws_daily", "FROM dws_dialy"))
    summary = run(root)
    failed = next(i for i in summary.instances if i.node_key == "sales.ads_week")
    assert failed.reason is not None
    assert failed.reason.startswith("ads_week.sql:4: ")  # the line naming the table
    assert "dws_dialy" in failed.reason
    assert "hint: did you mean 'dws_daily'?" in failed.reason
