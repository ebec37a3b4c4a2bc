"""The operating-system boundary around Python and shell nodes.

User code never runs with the control plane's rights. Which boundary is used depends
on the machine (``LAKEWORKS_SANDBOX``, default ``auto``: the strongest available):

- ``bwrap`` — bubblewrap: new mount, PID, IPC and UTS namespaces. The child sees only
  the system folders, the Python installation, its workspace folder (read-only, with
  the state folder hidden) and a working folder of its own; the metadata store, the
  secret key, the warehouse files and other workspaces are not in its file system. When
  Lakeworks runs as root, the child also runs as an unprivileged OS user
  (``LAKEWORKS_SANDBOX_USER``, default ``nobody``). Everything in it dies with the
  worker (``--die-with-parent`` and the PID namespace).
- ``user`` — (root only, without bubblewrap) the child runs as the unprivileged user,
  and the state folders are made private to their owner (mode 0700).
- ``off`` — no OS boundary, only the scrubbed environment and the working folder (a
  warning is logged for each run). ``auto`` falls back to it when nothing else works.

In every mode the environment is scrubbed and the child is killed with its worker
(``PR_SET_PDEATHSIG``). ``docs/security.md`` says what each mode guarantees.
"""

from __future__ import annotations

import ctypes
import functools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lakeworks.errors import UserError

ENV_SANDBOX = "LAKEWORKS_SANDBOX"
ENV_SANDBOX_USER = "LAKEWORKS_SANDBOX_USER"
ENV_SANDBOX_PATHS = "LAKEWORKS_SANDBOX_PATHS"
"""Extra folders the child may read, separated by ``os.pathsep`` (bwrap mode)."""
ENV_SANDBOX_WRITABLE = "LAKEWORKS_SANDBOX_WRITABLE"
"""Folders the child may write (e.g. a landing folder), ``os.pathsep``-separated."""
ENV_SANDBOX_NETWORK = "LAKEWORKS_SANDBOX_NETWORK"
"""``shared`` (default: nodes reach their data sources) or ``none``."""

_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
_PR_SET_PDEATHSIG = 1


class SandboxMode(StrEnum):
    AUTO = "auto"
    BWRAP = "bwrap"
    USER = "user"
    OFF = "off"


@dataclass(frozen=True)
class Sandbox:
    """How children are confined on this machine."""

    mode: SandboxMode
    """The mode in force (never ``auto``)."""
    uid: int | None = None
    """The unprivileged user children run as (when Lakeworks runs as root)."""
    gid: int | None = None
    share_network: bool = True

    @property
    def isolated(self) -> bool:
        """Whether the OS keeps the child away from the control plane's files."""
        return self.mode is not SandboxMode.OFF

    def describe(self) -> str:
        user = f" as uid {self.uid}" if self.uid is not None else ""
        return {
            SandboxMode.BWRAP: f"bubblewrap namespaces{user}",
            SandboxMode.USER: f"a separate OS user{user}",
            SandboxMode.OFF: "no OS isolation (install bubblewrap)",
        }.get(self.mode, str(self.mode))


@dataclass(frozen=True)
class Confinement:
    """What one child may see: the workspace folder, its working folder, what is hidden."""

    workspace_root: Path
    workdir: Path
    hidden: tuple[Path, ...]
    """Folders and files the child must not reach (state folders, stores, keys)."""


def _unprivileged_user() -> tuple[int, int]:
    name = os.environ.get(ENV_SANDBOX_USER, "nobody")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise UserError(
            f"{ENV_SANDBOX_USER}={name}: no such OS user",
            hint="create an unprivileged user for node processes, or set it to 'nobody'",
        ) from None
    if entry.pw_uid == 0:
        raise UserError(f"{ENV_SANDBOX_USER}={name} is root; nodes need an unprivileged user")
    return entry.pw_uid, entry.pw_gid


def _bwrap_works(as_root: bool) -> bool:
    """Whether bubblewrap can make the namespaces real runs use (tried twice: slow under
    load is not unusable)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = [bwrap, "--ro-bind", "/", "/", *_namespaces(as_root, share_network=True), "true"]
    for _ in range(2):
        try:
            done = subprocess.run(probe, capture_output=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            continue
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0
    return False


def _namespaces(as_root: bool, *, share_network: bool) -> list[str]:
    out = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if not as_root:  # a user namespace makes the mounts possible
        out.append("--unshare-user")
    if not share_network:
        out.append("--unshare-net")
    return [*out, "--die-with-parent"]


@functools.cache
def current() -> Sandbox:
    """The sandbox of this process, from ``LAKEWORKS_SANDBOX`` (probed once)."""
    raw = os.environ.get(ENV_SANDBOX, SandboxMode.AUTO.value).strip().lower()
    try:
        wanted = SandboxMode(raw)
    except ValueError:
        choices = ", ".join(m.value for m in SandboxMode)
        raise UserError(f"{ENV_SANDBOX}={raw}: expected one of {choices}") from None
    network = os.environ.get(ENV_SANDBOX_NETWORK, "shared").strip().lower()
    if network not in ("shared", "none"):
        raise UserError(f"{ENV_SANDBOX_NETWORK}={network}: expected 'shared' or 'none'")
    root = os.geteuid() == 0
    uid, gid = _unprivileged_user() if root else (None, None)
    if wanted in (SandboxMode.AUTO, SandboxMode.BWRAP):
        if sys.platform.startswith("linux") and _bwrap_works(root):
            return Sandbox(SandboxMode.BWRAP, uid, gid, share_network=network == "shared")
        if wanted is SandboxMode.BWRAP:
            raise UserError(
                f"{ENV_SANDBOX}=bwrap but bubblewrap is missing or cannot create namespaces",
                hint="install it (apt-get install bubblewrap) or allow unprivileged user "
                "namespaces (sysctl kernel.unprivileged_userns_clone=1)",
            )
    if wanted in (SandboxMode.AUTO, SandboxMode.USER) and root:
        return Sandbox(SandboxMode.USER, uid, gid)
    if wanted is SandboxMode.USER:
        raise UserError(
            f"{ENV_SANDBOX}=user needs Lakeworks to run as root (to switch users)",
            hint=f"use {ENV_SANDBOX}=bwrap, or start Lakeworks as root",
        )
    return Sandbox(SandboxMode.OFF)


def dies_with(parent: int) -> Callable[[], None]:
    """What the child runs before exec: be killed when the thread that started it dies,
    and end at once if ``parent`` already died between the fork and that call."""

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not after the fork

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _readable_paths() -> list[Path]:
    """Folders the child reads: the system and the Python installation running nodes."""
    found: list[Path] = [Path(p) for p in _SYSTEM_PATHS]
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    found += [Path(p) for p in sorted(prefixes)]
    found += [Path(p) for p in sys.path[1:] if p and Path(p).is_absolute() and p != "/"]
    found += [Path(v) for v in sysconfig.get_paths().values()]
    found.append(Path(os.path.realpath(sys.executable)).parent.parent)
    return found + _paths_from(ENV_SANDBOX_PATHS)


def _paths_from(variable: str) -> list[Path]:
    return [Path(p) for p in os.environ.get(variable, "").split(os.pathsep) if p]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _outermost(paths: list[Path]) -> list[Path]:
    """``paths`` without those inside another one (bound already with it)."""
    return [p for p in paths if not any(q != p and _inside(p, q) for q in paths)]


def _existing_unique(paths: Iterable[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.exists():
            seen.setdefault(str(path), path)
    return list(seen.values())


class _Mounts:
    """bwrap arguments, with readable (0755) parent folders made for each mount point."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._bound: list[Path] = []
        self._points: set[Path] = {Path("/")}

    def _parents(self, target: Path) -> None:
        for parent in reversed(target.parents):
            if parent in self._points or any(_inside(parent, b) for b in self._bound):
                continue
            self.args += ["--perms", "0755", "--dir", str(parent)]
            self._points.add(parent)

    def add(self, option: str, target: Path, source: str | None = None) -> None:
        self._parents(target)
        self.args += [option, *([source] if source is not None else []), str(target)]
        self._points.add(target)
        if option in ("--ro-bind", "--bind") and source == str(target):
            self._bound.append(target)

    def mask(self, path: Path) -> None:
        if path.is_dir():
            self.add("--tmpfs", path)
        else:
            self.add("--ro-bind", path, "/dev/null")


def bwrap_argv(sandbox: Sandbox, confinement: Confinement, argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped in bubblewrap with only what ``confinement`` allows mounted."""
    bwrap = shutil.which("bwrap") or "bwrap"
    hidden = _existing_unique(confinement.hidden)
    root = confinement.workspace_root
    out = [bwrap, *_namespaces(sandbox.uid is not None, share_network=sandbox.share_network)]
    mounts = _Mounts()
    mounts.add("--proc", Path("/proc"))
    mounts.add("--dev", Path("/dev"))
    mounts.add("--tmpfs", Path("/tmp"))
    mounts.add("--tmpfs", Path("/run"))
    readable = _outermost(_existing_unique(_readable_paths()))
    for path in readable:
        if path.is_symlink() and str(path) in _SYSTEM_PATHS:
            mounts.add("--symlink", path, os.readlink(path))
        else:
            mounts.add("--ro-bind", path, str(path))
    writable = _existing_unique(_paths_from(ENV_SANDBOX_WRITABLE))
    for path in writable:
        mounts.add("--bind", path, str(path))
    for path in hidden:  # a hidden folder inside a mounted one (e.g. a sys.path entry)
        if any(_inside(path, r) for r in readable + writable):
            mounts.mask(path)
    mounts.add("--ro-bind", root, str(root))
    for path in hidden:  # the state folder inside the workspace folder
        if _inside(path, root) and path != root:
            mounts.mask(path)
    mounts.add("--bind", confinement.workdir, str(confinement.workdir))
    out += [*mounts.args, "--chdir", str(confinement.workdir)]
    if sandbox.uid is not None:  # root: switch to the unprivileged user inside
        out += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--"]
        setpriv = shutil.which("setpriv") or "setpriv"
        out += [setpriv, f"--reuid={sandbox.uid}", f"--regid={sandbox.gid}", "--clear-groups"]
        out += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    else:
        out.append("--")
    return out + list(argv)


def make_private(paths: Iterable[Path]) -> None:
    """Take group and other permissions off ``paths`` (user mode protects with modes)."""
    for path in _existing_unique(paths):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            path.chmod(mode & 0o700)


@dataclass(frozen=True)
class Launch:
    """What ``subprocess.Popen`` needs to start one confined child."""

    argv: list[str]
    user: int | None
    group: int | None
    preexec: Callable[[], None]


def launch(sandbox: Sandbox, confinement: Confinement, argv: Sequence[str]) -> Launch:
    """How to start ``argv`` under ``sandbox``; prepares the working folder."""
    die_with_parent = dies_with(os.getpid())
    if sandbox.uid is not None:  # shared with the child's group only
        os.chown(confinement.workdir, -1, sandbox.gid if sandbox.gid is not None else -1)
        confinement.workdir.chmod(0o770)
    if sandbox.mode is SandboxMode.BWRAP:
        return Launch(bwrap_argv(sandbox, confinement, argv), None, None, die_with_parent)
    if sandbox.mode is SandboxMode.USER:
        make_private(confinement.hidden)
        return Launch(list(argv), sandbox.uid, sandbox.gid, die_with_parent)
    return Launch(list(argv), None, None, die_with_parent)
