"""Time the scheduling core: planning 30 days of 200 nodes, and a 30-day simulation.

Planning covers a generated workspace of hourly and daily nodes (half each, with
dependencies across cycle kinds), including each instance's upstream instances.
Beside it, the floor: listing the same cycles with nothing else (no dependencies,
no instance records). The simulation plays scheduler and workers over the same days
with random failures and retries.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.planning import Planner
from lakeworks.schedule.simulate import SimulationConfig, simulate
from lakeworks.schedule.synthetic import Mix, synthetic_workspace

PLAN_TARGET_SECONDS = 1.0
SIMULATION_TARGET_SECONDS = 5.0
START = datetime(2026, 3, 1, tzinfo=UTC)


def plan_figures(nodes: int, days: int) -> dict[str, float]:
    mix = Mix(hourly=0.5, daily=0.5, weekly=0, monthly=0, cron=0)
    ws = synthetic_workspace(nodes, seed=1, mix=mix, frozen_last=False)
    graph = build_graph(ws)
    end = START + timedelta(days=days)
    started = time.perf_counter()
    planner = Planner(ws, graph)
    planned = planner.plan(START, end)
    elapsed = time.perf_counter() - started
    floor_planner = Planner(ws, graph)
    floor_started = time.perf_counter()
    cycles = sum(len(s.cycles(START, end)) for s in floor_planner.resolver.schedules.values())
    floor = time.perf_counter() - floor_started
    again_started = time.perf_counter()
    assert planner.plan(START, end, {p.key for p in planned}) == []
    again = time.perf_counter() - again_started
    return {
        "instances": float(len(planned)),
        "upstream references": float(sum(len(p.upstream) for p in planned)),
        "cycles (floor)": float(cycles),
        "plan seconds": elapsed,
        "floor seconds": floor,
        "re-plan, all existing, seconds": again,
    }


def simulation_figures(nodes: int, days: int) -> dict[str, float]:
    ws = synthetic_workspace(nodes, seed=7)
    graph = build_graph(ws)
    started = time.perf_counter()
    result = simulate(ws, graph, SimulationConfig(start=START, days=days, failure_rate=0.04))
    return {
        "simulated instances": float(len(result.final_states)),
        "attempts": float(sum(len(a) for a in result.attempts.values())),
        "simulation seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size: 20 nodes, 3 days")
    args = parser.parse_args(argv)
    nodes, days = (20, 3) if args.quick else (200, 30)
    plan = plan_figures(nodes, days)
    sim = simulation_figures(nodes, days)
    print(f"scheduling core, {nodes} nodes x {days} days")
    print(f"{'figure':<34} {'value':>12}")
    for name, value in {**plan, **sim}.items():
        text = f"{value:.3f}" if "seconds" in name else f"{value:,.0f}"
        print(f"{name:<34} {text:>12}")
    per_instance_us = plan["plan seconds"] / max(plan["instances"], 1) * 1e6
    print(f"{'plan per instance (us)':<34} {per_instance_us:>12.1f}")
    print(f"{'plan / floor':<34} {plan['plan seconds'] / max(plan['floor seconds'], 1e-9):>12.1f}")
    print(
        f"RESULT plan_{nodes}_nodes_{days}_days {plan['plan seconds']:.3f} s "
        f"(target < {PLAN_TARGET_SECONDS:g})"
    )
    print(
        f"RESULT simulate_{nodes}_nodes_{days}_days {sim['simulation seconds']:.3f} s "
        f"(target < {SIMULATION_TARGET_SECONDS:g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
