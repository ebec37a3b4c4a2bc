"""Run Python and shell nodes as confined child processes.

The child gets a scrubbed environment: the rendered parameters (``bizdate``,
``yyyymmdd``, user parameters, …), the node's identity (``LAKEWORKS_NODE``, …) and the
data sources it declares (``runtime.connections``), nothing of the control plane's. It
runs in a working folder of its own, inside the OS boundary of ``runtime.sandbox``, and
dies with the process that started it. Its output lines stream into the instance log;
a timeout or a stop kills the whole process group.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakeworks.errors import UserCodeError, UserError
from lakeworks.runtime import sandbox
from lakeworks.runtime.connections import connection_env
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.outputs import split_printed
from lakeworks.sql.params import parameter_env

_PASSED_THROUGH = ("LANG", "LC_ALL", "TZ")
"""Variables of the control plane's environment a node may see (locale and zone)."""


def _env_for(ctx: NodeRunContext, workdir: Path) -> dict[str, str]:
    python_bin = str(Path(sys.executable).parent)
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        {
            "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ctx.node.path.resolve().parent),  # modules beside the node
        }
    )
    env.update(parameter_env(ctx.params))
    env.update(connection_env(ctx.node, ctx.workspace.config.data_sources))
    env.update(
        {
            "LAKEWORKS_WORKSPACE": str(ctx.workspace.root),
            "LAKEWORKS_WORKDIR": str(workdir),
            "LAKEWORKS_ENV": ctx.env,
            "LAKEWORKS_NODE": ctx.node.key,
            "LAKEWORKS_CYCLE_TIME": ctx.cycle_time.isoformat(sep=" "),
            "LAKEWORKS_ATTEMPT": str(ctx.attempt),
        }
    )
    if ctx.instance_id is not None:
        env["LAKEWORKS_INSTANCE_ID"] = str(ctx.instance_id)
    return env


def hidden_paths(ctx: NodeRunContext) -> tuple[Path, ...]:
    """What the child must not reach: state folders, the store, warehouse files."""
    found = [ctx.workspace.state_dir]
    db = ctx.extras.get("db")
    engine = getattr(db, "engine", None)
    url = getattr(engine, "url", None)
    if url is not None and url.get_backend_name() == "sqlite" and url.database:
        found.append(Path(url.database).resolve().parent)
    for config in ctx.workspace.config.engines.values():
        if config.path:
            path = Path(config.path)
            found.append(path if path.is_absolute() else ctx.workspace.root / path)
    extra = ctx.extras.get("hidden_paths")
    if isinstance(extra, (list, tuple)):
        found += [Path(str(p)) for p in extra]
    return tuple(p.resolve() for p in found)


@contextmanager
def _workdir(ctx: NodeRunContext) -> Iterator[Path]:
    name = f"lakeworks-{ctx.node.key.replace('/', '-')}-{ctx.instance_id or 'run'}-"
    path = Path(tempfile.mkdtemp(prefix=name))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def run_process(ctx: NodeRunContext, interpreter: list[str]) -> NodeResult:
    """Run the node file with ``interpreter`` confined, in a working folder of its own
    (from a copy there, so that it runs whatever the workspace folder's permissions),
    streaming its output into the log."""
    box = sandbox.current()
    if not box.isolated:
        ctx.log(f"WARNING: {box.describe()}: the node runs with the server's OS rights")
    with _workdir(ctx) as workdir:
        script = workdir / ".node" / ctx.node.path.name
        script.parent.mkdir()
        shutil.copyfile(ctx.node.path, script)
        argv = [*interpreter, str(script)]
        env = _env_for(ctx, workdir)
        confinement = sandbox.Confinement(ctx.workspace.root.resolve(), workdir, hidden_paths(ctx))
        start = sandbox.launch(box, confinement, argv)
        try:
            process = _popen(start, workdir, env)
        except OSError as exc:
            raise UserError(
                f"{ctx.node.path.name} could not be started ({box.describe()}): {exc}",
                hint="the node's interpreter and workspace folder must be readable by the "
                f"sandbox user ({sandbox.ENV_SANDBOX_USER}); installing bubblewrap avoids this",
            ) from None
        return _follow(ctx, process)


def _popen(start: sandbox.Launch, workdir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        start.argv,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
        user=start.user,
        group=start.group,
        extra_groups=[] if start.user is not None else None,
        preexec_fn=start.preexec,
    )


def _follow(ctx: NodeRunContext, process: subprocess.Popen[str]) -> NodeResult:
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
    return run_process(ctx, [sys.executable, "-u"])


def run_shell_node(ctx: NodeRunContext) -> NodeResult:
    """Run a shell node file with bash (errors in a pipeline are not ignored)."""
    return run_process(ctx, ["bash", "-o", "pipefail"])
