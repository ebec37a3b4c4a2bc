"""``lakeworks validate`` checks data sources with the rest of the workspace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))

LAKEWORKS_YML = """\
name: shop
data_sources:
  shop_pg:
    type: postgres
    host: db.shop.internal
    colour: red
    port: fifty
  legacy:
    type: sqlite
    path: legacy.db
"""


def _validate(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LAKEWORKS, "validate", "-w", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_validate_reports_data_source_problems_with_the_rest(tmp_path: Path) -> None:
    (tmp_path / "lakeworks.yml").write_text(LAKEWORKS_YML)
    flow = tmp_path / "workflows" / "ingest"
    flow.mkdir(parents=True)
    (flow / "ods_orders.sync.yml").write_text(
        "source:\n  data_source: shop_pgg\n  table: orders\ntarget:\n  table: ods_orders\n"
    )
    (flow / "ods_legacy.sync.yml").write_text(
        "source: {data_source: legacy, table: t}\ntarget: {table: ods_legacy}\n"
    )
    (flow / "dws.sql").write_text("-- ---\n-- depends_on: [nope]\n-- ---\nSELECT 1;\n")
    done = _validate(tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr
    yml = tmp_path / "lakeworks.yml"
    assert "error: 5 problems found" in err
    assert (
        f"{flow / 'ods_orders.sync.yml'}:2 (key 'source.data_source'): "
        "unknown data source 'shop_pgg'\n"
        "  hint: declare it under data_sources: in lakeworks.yml "
        "(known: warehouse, legacy, shop_pg)"
    ) in err
    assert (
        f"{yml}:6 (key 'data_sources.shop_pg.colour'): data source 'shop_pg': unknown key 'colour'"
    ) in err
    assert f"{yml}:7 (key 'data_sources.shop_pg.port'): data source 'shop_pg': 'port'" in err
    assert (
        f"{yml}:3 (key 'data_sources.shop_pg.database'): "
        "data source 'shop_pg': missing required key 'database'"
    ) in err
    assert "depends on unknown node 'nope'" in err

    (tmp_path / "lakeworks.yml").write_text(
        "name: shop\ndata_sources:\n"
        "  shop_pg: {type: postgres, database: shop, password_env: SHOP_PG_PASSWORD}\n"
        "  legacy: {type: sqlite, path: legacy.db}\n"
    )
    (flow / "ods_orders.sync.yml").write_text(
        "source: {data_source: shop_pg, table: orders}\ntarget: {table: ods_orders}\n"
    )
    (flow / "dws.sql").write_text("SELECT 1;\n")
    fixed = _validate(tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.startswith("ok: 3 nodes in 1 workflows")
