"""Time ``lakeworks validate`` on a workspace whose one SQL node is megabytes of
INSERTs, as a user runs it (a fresh process each time, default configuration).

Statement splitting used to be quadratic in the script's size (4 MB took 150 s); this
shows the time per size, so a superlinear step stands out.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0
CREATE = "CREATE TABLE IF NOT EXISTS bulk_rows (day STRING, region STRING, k STRING, n BIGINT);\n"
ROW = "INSERT INTO bulk_rows VALUES ('2026-04-10', 'east', 'p-{i}', {i});\n"


def _lakeworks() -> str:
    return str(Path(sys.executable).parent / "lakeworks")


def _example(root: Path) -> Path:
    subprocess.run(
        [_lakeworks(), "init", str(root), "--example", "sales"], check=True, capture_output=True
    )
    return root


def _workspace(example: Path, root: Path, size: int) -> Path:
    """A copy of the example workspace with one SQL node of ``size`` bytes of INSERTs."""
    shutil.copytree(example, root)
    lines, total, i = [], 0, 0
    while total < size:
        line = ROW.format(i=i)
        lines.append(line)
        total += len(line)
        i += 1
    node = root / "workflows/sales_pipeline/09_bulk_insert.sql"
    node.write_text(CREATE + "".join(lines))
    return root


def _validate(root: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [_lakeworks(), "validate", "-w", str(root)], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"validate failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 and 200 KB")
    args = parser.parse_args(argv)
    sizes = [100_000, 200_000] if args.quick else [1_000_000, 2_000_000, 4_000_000]
    figures: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="lakeworks-bench-") as tmp:
        example = _example(Path(tmp) / "example")
        baseline = _validate(_workspace(example, Path(tmp) / "base", 0))
        for size in sizes:
            figures[size] = _validate(_workspace(example, Path(tmp) / f"ws{size}", size))
    print(f"{'node size':>10} {'validate s':>11} {'s per MB':>9}")
    print(f"{'(none)':>10} {baseline:>11.2f} {'':>9}")
    for size, seconds in figures.items():
        per_mb = (seconds - baseline) / (size / 1_000_000)
        print(f"{size / 1_000_000:>8.1f}MB {seconds:>11.2f} {per_mb:>9.2f}")
    largest = max(figures)
    name = "large_node_validate_4mb" if largest == 4_000_000 else "large_node_validate_quick"
    print(f"RESULT {name} {figures[largest]:.2f} s (target < {TARGET_SECONDS:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
