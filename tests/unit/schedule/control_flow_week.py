"""A daily pipeline with an assignment, a branch, two merges and a for-each, and the
outputs its assignment nodes publish each day: shared by the model's test and the
comparison of the model with real runs."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from lakeworks.schedule.dependencies import InstanceKey
from lakeworks.spec.outputs import OutputValue

START = date(2026, 4, 6)
"""The first business date of the week (a Monday)."""
ZONE = "Asia/Shanghai"


def mode_of(bizdate: date) -> str:
    """Full loads on even days of the month, incremental ones otherwise."""
    return "full" if bizdate.day % 2 == 0 else "incremental"


def regions_of(bizdate: date) -> list[str]:
    """One to three regions, by the day of the week."""
    return ["hz", "sh", "bj"][: 1 + bizdate.weekday() % 3]


def failing_day() -> date:
    """The business date on which ``load_inc`` fails (an incremental day)."""
    return START + timedelta(days=1)


def pipeline_files() -> dict[str, str]:
    """Files under ``workflows/`` of the pipeline (shell and Python nodes only)."""
    fail = f"{failing_day():%Y%m%d}"
    return {
        "p/assign_mode.py": (
            "# ---\n# output: true\n# ---\nimport os\n"
            "day = int(os.environ['bizdate'][-2:])\n"
            "print('full' if day % 2 == 0 else 'incremental')\n"
        ),
        "p/assign_regions.py": (
            "# ---\n# output: true\n# ---\nimport datetime, os\n"
            "d = datetime.datetime.strptime(os.environ['bizdate'], '%Y%m%d')\n"
            "print(','.join(['hz', 'sh', 'bj'][: 1 + d.weekday() % 3]))\n"
        ),
        "p/route.branch.yml": (
            "inputs: {mode: assign_mode.outputs}\n"
            "conditions:\n"
            "  - when: \"mode[0] == 'full'\"\n"
            "    output: full\n"
            "  - when: 'true'\n"
            "    output: incremental\n"
        ),
        "p/load_full.sh": "# ---\n# branch: {route: full}\n# ---\necho full\n",
        "p/load_inc.sh": (
            "# ---\n# branch: {route: incremental}\n# ---\n"
            f'if [ "$bizdate" = "{fail}" ]; then exit 1; fi\necho inc\n'
        ),
        "p/check_inc.sh": "# ---\n# depends_on: [load_inc]\n# ---\necho checked\n",
        "p/join.merge.yml": "depends_on: [load_full, check_inc]\ncondition: any\n",
        "p/tolerant.merge.yml": (
            "depends_on: [load_full, load_inc]\n"
            "condition: \"load_full == 'success' or load_inc in ['success', 'failed']\"\n"
        ),
        "p/per_region.foreach.yml": (
            "inputs: {regions: assign_regions.outputs}\n"
            "items: regions\nbody: region_body\ndepends_on: [join]\n"
        ),
        "p/region_body/export.sh": 'echo "export ${dag_foreach_current}"\n',
        "p/report.sh": "# ---\n# depends_on: [per_region, tolerant]\n# ---\necho report\n",
    }


def write_pipeline(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lakeworks.yml").write_text(
        f"name: week\ntimezone: {ZONE}\nsql_dialect: duckdb\n", encoding="utf-8"
    )
    for rel, text in pipeline_files().items():
        path = root / "workflows" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def bizdate_of(cycle_time: datetime) -> date:
    """The business date of a daily 00:00 cycle (aware)."""
    from zoneinfo import ZoneInfo

    return cycle_time.astimezone(ZoneInfo(ZONE)).date() - timedelta(days=1)


def outputs(key: InstanceKey) -> OutputValue:
    """What the assignment nodes print for the instance ``key``."""
    node_key, cycle_time = key
    day = bizdate_of(cycle_time)
    if node_key == "p.assign_mode":
        return [mode_of(day)]
    if node_key == "p.assign_regions":
        return list(regions_of(day))
    return []


def fails(key: InstanceKey, attempt: int) -> bool:
    return key[0] == "p.load_inc" and bizdate_of(key[1]) == failing_day()
