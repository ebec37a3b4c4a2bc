"""PostgreSQL CDC throughput for ``stream_throughput.py``: a CDC stream node applying
a burst of committed changes, beside ``pg_recvlogical`` draining the same changes
from a slot of its own to nothing (the server's own logical decoding speed).

Run by ``stream_throughput.py``; needs the local PostgreSQL (127.0.0.1:5432, trust,
database ``test``, ``wal_level = logical``) and ``pg_recvlogical``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

DSN = "host=127.0.0.1 dbname=test user=postgres"
ROWS_PER_TRANSACTION = 1000


def _lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


class CdcBench:
    """A throwaway schema, publication and slots; everything dropped by ``close``."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"lw_bench_cdc_{uuid.uuid4().hex[:8]}"
        self.drain_slot = f"{self.name}_drain"
        self.conn = psycopg.connect(DSN, autocommit=True)
        self.conn.execute(f"CREATE SCHEMA {self.name}")
        self.conn.execute(
            f"CREATE TABLE {self.name}.events (id bigint PRIMARY KEY, a bigint, b double "
            "precision, c int, s1 text, s2 text, ts timestamptz)"
        )

    def sql(self, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self.conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []

    def workspace(self, root: Path) -> None:
        import yaml

        (root / "workflows" / "bench").mkdir(parents=True)
        config = {
            "name": "cdcbench",
            "data_sources": {"pg": {"type": "postgres", "database": "test", "user": "postgres"}},
        }
        (root / "lakeworks.yml").write_text(yaml.safe_dump(config))
        spec = {
            "source": {
                "type": "postgres_cdc",
                "data_source": "pg",
                "tables": [f"{self.name}.events"],
                "slot": self.name,
            },
            "target": {"table": "events"},
        }
        (root / "workflows" / "bench" / "cdc.stream.yml").write_text(yaml.safe_dump(spec))

    def changes(self, count: int) -> int:
        """``count`` row changes (4 of 5 inserts, 1 of 5 updates) in transactions of
        1,000; returns the WAL position after them."""
        inserted = 0
        done = 0
        while done < count:
            size = min(ROWS_PER_TRANSACTION, count - done)
            if inserted >= ROWS_PER_TRANSACTION and (done // ROWS_PER_TRANSACTION) % 5 == 4:
                low = max(0, inserted - size)
                self.sql(
                    f"UPDATE {self.name}.events SET a = a + 1, s2 = 'u' WHERE id >= %s AND id < %s",
                    [low, low + size],
                )
            else:
                self.sql(
                    f"INSERT INTO {self.name}.events SELECT g, g * 2, g * 0.5, g %% 97, 'abc', "
                    "'k' || (g %% 1000), now() FROM generate_series(%s::bigint, %s::bigint) g",
                    [inserted, inserted + size - 1],
                )
                inserted += size
            done += size
        end = str(self.sql("SELECT pg_current_wal_lsn()::text")[0][0])
        self.sql(f"UPDATE {self.name}.events SET c = c WHERE id = 0")  # ends after them
        return _lsn(end)

    def drain_slot_create(self) -> None:
        self.sql("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [self.drain_slot])

    def drain(self, end: int) -> float:
        """Seconds ``pg_recvlogical`` takes to decode everything up to ``end``."""
        program = shutil.which("pg_recvlogical")
        if program is None:
            raise RuntimeError("pg_recvlogical is not installed")
        stop = f"{end >> 32:X}/{end & 0xFFFFFFFF:X}"
        started = time.perf_counter()
        subprocess.run(
            [
                program,
                "-d",
                DSN,
                "--slot",
                self.drain_slot,
                "--start",
                "--endpos",
                stop,
                "-o",
                "proto_version=1",
                "-o",
                f"publication_names={self.name}",
                "--no-loop",
                "-f",
                "/dev/null",
            ],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started

    def close(self) -> None:
        deadline = time.monotonic() + 30
        for slot in (self.name, self.drain_slot):
            while True:
                rows = self.sql(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [slot]
                )
                if not rows:
                    break
                if not rows[0][0] or time.monotonic() > deadline:
                    self.sql("SELECT pg_drop_replication_slot(%s)", [slot])
                    break
                time.sleep(0.2)
        self.sql(f"DROP PUBLICATION IF EXISTS {self.name}")
        self.sql(f"DROP SCHEMA {self.name} CASCADE")
        self.conn.close()


def position(root: Path, slot: str) -> Callable[[], int]:
    """Reads the stream's committed position from the metadata store."""
    from lakeworks.store.database import Database
    from lakeworks.streaming.status import StreamStatusStore

    store: list[StreamStatusStore] = []

    def read() -> int:
        if not store:
            if not (root / ".lakeworks" / "meta.db").exists():
                return 0
            db = Database.open(f"sqlite:///{root / '.lakeworks' / 'meta.db'}")
            store.append(StreamStatusStore(db, "cdcbench", "dev"))
        status = store[0].get("bench.cdc")
        if status is None or not status.positions:
            return 0
        return int(json.loads(status.positions).get(f"pg:{slot}", 0))

    return read
