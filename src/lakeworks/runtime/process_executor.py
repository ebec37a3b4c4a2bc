"""Run Python and shell nodes as child processes.

The rendered parameters reach the process as environment variables (``bizdate``,
``yyyymmdd``, user parameters, …); its output lines stream into the instance log. A
timeout or a stop kills the whole process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading

from lakeworks.errors import UserCodeError
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.outputs import split_printed
from lakeworks.sql.params import parameter_env


def _env_for(ctx: NodeRunContext) -> dict[str, str]:
    env = dict(os.environ)
    env.update(parameter_env(ctx.params))
    env.update(
        {
            "LAKEWORKS_WORKSPACE": str(ctx.workspace.root),
            "LAKEWORKS_ENV": ctx.env,
            "LAKEWORKS_NODE": ctx.node.key,
            "LAKEWORKS_CYCLE_TIME": ctx.cycle_time.isoformat(sep=" "),
            "LAKEWORKS_ATTEMPT": str(ctx.attempt),
        }
    )
    if ctx.instance_id is not None:
        env["LAKEWORKS_INSTANCE_ID"] = str(ctx.instance_id)
    return env


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _dies_with_parent(argv: list[str]) -> list[str]:
    """``argv`` killed when the runner dies (Linux ``setpriv --pdeathsig``), if available.

    A worker killed with ``kill -9`` must not leave its node running while the
    instance is retried elsewhere.
    """
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


def run_process(ctx: NodeRunContext, argv: list[str]) -> NodeResult:
    """Run ``argv`` in the workspace folder, streaming its output into the log."""
    process = subprocess.Popen(
        _dies_with_parent(argv),
        cwd=ctx.workspace.root,
        env=_env_for(ctx),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    killed = threading.Event()

    def stop() -> None:
        killed.set()
        _kill_group(process)

    ctx.on_interrupt.append(stop)
    timer = None
    if ctx.timeout_seconds:
        timer = threading.Timer(ctx.timeout_seconds, stop)
        timer.daemon = True
        timer.start()
    last_line = ""
    try:
        assert process.stdout is not None  # guaranteed by stdout=PIPE
        for line in process.stdout:
            text = line.rstrip("\n")
            ctx.log(text)
            if text.strip():
                last_line = text
        code = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        ctx.on_interrupt.remove(stop)
        if process.poll() is None:
            _kill_group(process)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    if killed.is_set():
        raise UserCodeError("the process was killed (stopped or timed out)")
    if code != 0:
        raise UserCodeError(f"{ctx.node.path.name} exited with code {code}")
    output = split_printed(last_line) if ctx.node.header.output else None
    return NodeResult(rendered_code=ctx.node.code, output=output)


def run_python_node(ctx: NodeRunContext) -> NodeResult:
    """Run a Python node file with the interpreter Lakeworks runs on."""
    return run_process(ctx, [sys.executable, "-u", str(ctx.node.path)])


def run_shell_node(ctx: NodeRunContext) -> NodeResult:
    """Run a shell node file with bash (errors in a pipeline are not ignored)."""
    return run_process(ctx, ["bash", "-o", "pipefail", str(ctx.node.path)])
