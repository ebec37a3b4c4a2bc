"""Ending a ``lakeworks`` process whose command is done, without the interpreter's teardown.

After ``lakeworks run`` has printed its summary, the interpreter's teardown freed every
module and object one by one (~25 ms CPU, more than a node's overhead). A command that
leaves nothing for that teardown asks for it (``request_fast_exit``); the entry point then waits for
the threads the interpreter would wait for, runs the exit handlers (logs are flushed
there), flushes the output and ends the process with the same status. Whatever the
command committed is on disk already (the metadata store is closed, the warehouse's
write-ahead log holds its commits, as after a normal exit). Commands run through
``CliRunner`` never end the test process this way: only the console entry point acts
on the request.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn

_requested: list[bool] = []
_console: list[bool] = []


def enter_console() -> None:
    """This process is the ``lakeworks`` command itself (its entry point), not a test's
    ``CliRunner``: the command may end it, and fork helpers of its own."""
    _console.append(True)


def is_console() -> bool:
    return bool(_console)


def request_fast_exit() -> None:
    """The command's work is done and nothing needs the interpreter's teardown."""
    _requested.append(True)


def fast_exit_requested() -> bool:
    return bool(_requested)


def exit_now(code: object) -> NoReturn:
    """End the process with the status ``sys.exit(code)`` would give, after what a
    normal exit does first (non-daemon threads joined, exit handlers run, output flushed)."""
    # What the interpreter does first at exit: stop idle thread pools, join the other
    # non-daemon threads (a pool left running would otherwise be waited for forever).
    threading._shutdown()  # type: ignore[attr-defined]
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe
            stream.flush()
    os._exit(status)
