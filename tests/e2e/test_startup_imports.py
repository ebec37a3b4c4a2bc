"""What a ``lakeworks`` process loads before it does its work.

Every command pays for the modules it imports at each start; these tests pin down what
a command must not load (command groups it does not run, the store and the config
models for ``--help``), and that listing the commands without importing them shows
exactly what the commands themselves say.
"""

from __future__ import annotations

import importlib.abc
import inspect
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from lakeworks.cli import groups

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
GROUP_MODULES = {f"lakeworks.cli.{module}" for module, _, _ in groups.GROUPS}

_REPORT = """
import atexit, sys
report = sys.argv.pop(1)
def _report():
    with open(report, "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
atexit.register(_report)
sys.argv[0] = "lakeworks"
from lakeworks.cli.app import main
main()
"""


def modules_loaded(tmp_path: Path, *args: str) -> tuple[set[str], str]:
    """The modules a ``lakeworks ARGS`` process had imported when it exited, and its output."""
    report = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", _REPORT, str(report), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
    )
    assert report.exists(), done.stdout + done.stderr
    return set(report.read_text().split()), done.stdout + done.stderr


def _first_paragraph(command: object) -> str:
    text = getattr(command, "short_help", None) or getattr(command, "help", None) or ""
    return inspect.cleandoc(text).split("\n\n")[0]


def test_help_loads_no_command_group_nor_the_store_or_config_models(tmp_path: Path) -> None:
    loaded, output = modules_loaded(tmp_path, "--help")
    assert "Usage: lakeworks" in output
    assert not loaded & GROUP_MODULES
    for heavy in ("sqlalchemy", "pydantic", "sqlglot", "duckdb", "lakeworks.spec.models"):
        assert heavy not in loaded, f"lakeworks --help imports {heavy}"


def test_help_lists_every_command_as_the_commands_describe_themselves() -> None:
    environ = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    lazy = subprocess.run(
        [LAKEWORKS, "--help"], capture_output=True, text=True, timeout=60, env=environ
    )
    eager = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv[0] = 'lakeworks'\n"
            "from lakeworks.cli.app import _register_groups, main; _register_groups(); main()",
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
    )
    assert lazy.returncode == eager.returncode == 0, lazy.stderr + eager.stderr
    assert "lakehouse" in lazy.stdout
    assert lazy.stdout == eager.stdout


def test_help_wraps_each_command_description_only_where_the_panel_ends() -> None:
    """A description is one paragraph in the listing: a line breaks only where the next
    word would not fit, never where the docstring's source lines happened to end."""
    environ = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    done = subprocess.run(
        [LAKEWORKS, "--help"], capture_output=True, text=True, timeout=60, env=environ
    )
    panel = done.stdout.split("─ Commands ")[1].splitlines()[1:]
    rows = [line.strip("│").rstrip() for line in panel if line.startswith("│")]
    width = max(len(line.strip("│")) for line in panel if line.startswith("│"))
    column = len(rows[0]) - len(rows[0][1:].lstrip(" ").split(" ", 1)[1].lstrip(" "))
    for above, below in itertools.pairwise(rows):
        if below[:column].strip():
            continue  # the next command's entry starts
        next_word = below[column:].split(" ", 1)[0]
        assert len(above) + 1 + len(next_word) > width - 1, (above, below)


@pytest.mark.parametrize("module_name", [module for module, _, _ in groups.GROUPS])
def test_the_listing_of_each_group_is_what_its_module_registers(module_name: str) -> None:
    holder = typer.Typer(add_completion=False)
    assert groups.register(holder, module_name)
    registered = typer.main.get_group(holder).commands
    listed = {name: text for name, (module, text) in groups.LISTED.items() if module == module_name}
    assert set(registered) == set(listed), "update groups.LISTED"
    for name, command in registered.items():
        assert _first_paragraph(command) == listed[name], f"update groups.LISTED[{name!r}]"
        assert not command.hidden and not command.deprecated
        assert not getattr(command, "rich_help_panel", None)


def test_a_group_command_runs_with_only_its_own_group_loaded(tmp_path: Path) -> None:
    loaded, output = modules_loaded(tmp_path, "secrets", "--help")
    assert "encrypt" in output
    assert loaded & GROUP_MODULES == {"lakeworks.cli.server"}


def test_the_help_of_a_group_loads_neither_the_store_nor_the_warehouse(tmp_path: Path) -> None:
    loaded, output = modules_loaded(tmp_path, "ops", "--help")
    assert "set-success" in output
    for heavy in ("sqlalchemy", "sqlglot", "duckdb", "lakeworks.runtime.ops"):
        assert heavy not in loaded, f"lakeworks ops --help imports {heavy}"


def test_an_unknown_command_is_told_the_nearest_names(tmp_path: Path) -> None:
    _, output = modules_loaded(tmp_path, "opz")
    assert "No such command 'opz'. Did you mean 'ops'?" in output


def test_run_loads_no_other_command_group_nor_server_parts(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "workflows" / "daily").mkdir(parents=True)
    (ws / "lakeworks.yml").write_text("name: startup\n")
    (ws / "workflows" / "daily" / "workflow.yml").write_text(
        'schedule:\n  cycle: day\n  at: "02:00"\n'
    )
    (ws / "workflows" / "daily" / "a.sql").write_text("CREATE TABLE a AS SELECT 1 AS k;\n")
    (ws / "workflows" / "daily" / "b.sql").write_text("CREATE TABLE b AS SELECT k FROM a;\n")
    loaded, output = modules_loaded(tmp_path, "run", "-w", str(ws), "--bizdate", "20260411", "-q")
    assert "2 instances (2 success)" in output
    assert not loaded & GROUP_MODULES
    server_parts = ("alembic", "fastapi", "cryptography")
    display = ("rich", "typer.rich_utils")  # -q on a green run prints one line
    others = ("pyarrow", "croniter")  # no table data in Python; a daily schedule, no cron
    for unneeded in (*server_parts, *display, *others):
        assert unneeded not in loaded, f"lakeworks run imports {unneeded}"


class _ExtraNotInstalled(importlib.abc.MetaPathFinder):
    """Makes ``lakeworks.cli.needs_extra`` fail as a group whose extra is missing does."""

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "lakeworks.cli.needs_extra":
            raise ImportError("No module named 'not_installed_driver'", name="not_installed_driver")


def test_a_group_whose_extra_is_missing_is_no_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "GROUPS", [*groups.GROUPS, ("needs_extra", "app", "extra")])
    monkeypatch.setattr(groups, "LISTED", {**groups.LISTED, "extra": ("needs_extra", "Extra.")})
    monkeypatch.setattr(sys, "meta_path", [_ExtraNotInstalled(), *sys.meta_path])
    root = typer.Typer(cls=groups.LazyGroups, add_completion=False)

    @root.callback()
    def _root() -> None:
        """A root like ``lakeworks``'s."""

    result = CliRunner().invoke(root, ["extra", "list"], env={"NO_COLOR": "1"})
    assert result.exit_code == 2
    assert "No such command 'extra'" in result.output
    assert "Traceback" not in result.output
