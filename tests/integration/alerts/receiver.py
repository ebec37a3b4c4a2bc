"""A local webhook receiver that fails its first requests, and a workspace writer."""

from __future__ import annotations

import json
import textwrap
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    fail_first: int = 0
    hang_first: float = 0.0
    """Seconds the first request waits before it is answered (it is recorded at once)."""
    requests: list[Received] = field(default_factory=list)
    answered: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner.lock:
                    owner.answered += 1
                    first = owner.answered == 1
                    failing = owner.answered <= owner.fail_first
                    if not failing:
                        owner.requests.append(Received(self.path, dict(self.headers), body))
                if first and owner.hang_first:
                    time.sleep(owner.hang_first)
                self.send_response(503 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.block_on_close = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_workspace(root: Path, alerts_yml: str, *, name: str = "shop") -> Path:
    """A workspace with a chain ods -> dwd -> ads (virtual nodes, daily at 01:00)."""
    (root / "workflows" / "wf").mkdir(parents=True)
    (root / "lakeworks.yml").write_text(
        f"name: {name}\ntimezone: UTC\nresource_groups:\n  default: {{slots: 2}}\n"
    )
    (root / "workflows" / "wf" / "workflow.yml").write_text("schedule: {cycle: day, at: '01:00'}\n")
    for node, up in (("ods", None), ("dwd", "ods"), ("ads", "dwd")):
        deps = f"-- depends_on: [wf.{up}]\n" if up else ""
        (root / "workflows" / "wf" / f"{node}.sql").write_text(
            f"-- ---\n-- owner: alice\n{deps}-- ---\nSELECT 1;\n"
        )
    (root / "alerts").mkdir()
    (root / "alerts" / "ops.yml").write_text(textwrap.dedent(alerts_yml))
    return root
