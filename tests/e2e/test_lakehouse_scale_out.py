"""Scale-out on one machine: a scheduler, two workers and a Spark cluster on four hosts.

Each host is a network namespace joined to a bridge by a veth pair (``ip netns``, as
root). The metadata store is PostgreSQL and the lakehouse is an S3 bucket (moto), both
reached only over the bridge. A Spark standalone master and worker (pyspark's own
``spark-class``) run on the fourth host; the workspace's ``type: spark`` engine points
at ``spark://<that host>:7077``, so each Lakeworks worker is a Spark driver whose
executors run on the cluster (``SPARK_LOCAL_IP`` = the worker host's address, which
the executors connect back to). A daily pipeline (ODS → DWD → DWS → ADS) is backfilled
for two business dates; both workers run its instances on the one cluster, and the
lakehouse tables they commit hold what DuckDB computes from the same SQL (``lakeworks
run`` of the workspace with the DuckDB engine).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyspark
import pytest
from sqlalchemy.engine import make_url

from lakeworks.engines.lakehouse import duckdb_engine as lakehouse_duckdb
from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.duckdb_engine import LakehouseDuckDBEngine
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.store.database import Database
from lakeworks.store.logs import LogRepository
from lakeworks.store.models import InstanceState, RunType
from lakeworks.store.repositories import AttemptRepository, InstanceRepository
from tests.integration.scheduler.world import new_schema_url, scheduler_pg_database
from tests.services import free_port

__all__ = ["scheduler_pg_database"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("ip") is None,
        reason="network namespaces need root and iproute2",
    ),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.timeout(1200),  # a cluster, two Spark drivers and eight nodes on a busy machine
]
LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
SPARK_CLASS = str(Path(pyspark.__file__).with_name("bin") / "spark-class")
DATES = ["20260401", "20260402"]

NODES = {
    "ods_orders": """
CREATE TABLE IF NOT EXISTS ods_orders (order_id BIGINT, region STRING, amount DOUBLE)
PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE ods_orders PARTITION (ds = '${bizdate}')
SELECT CAST('${bizdate}' AS BIGINT) * 10 + 1, 'east',
  10.5 * CAST(SUBSTR('${bizdate}', 8, 1) AS DOUBLE)
UNION ALL SELECT CAST('${bizdate}' AS BIGINT) * 10 + 2, 'west', 20.0
UNION ALL SELECT CAST('${bizdate}' AS BIGINT) * 10 + 3, 'east', -1.0
UNION ALL SELECT CAST('${bizdate}' AS BIGINT) * 10 + 4, 'north', 7.25;
""",
    "dwd_orders": """
CREATE TABLE IF NOT EXISTS dwd_orders (order_id BIGINT, region STRING, amount DOUBLE)
PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE dwd_orders PARTITION (ds = '${bizdate}')
SELECT order_id, UPPER(region), amount FROM ods_orders WHERE ds = '${bizdate}' AND amount > 0;
""",
    "dws_region": """
CREATE TABLE IF NOT EXISTS dws_region (region STRING, orders BIGINT, total DOUBLE)
PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE dws_region PARTITION (ds = '${bizdate}')
SELECT region, COUNT(1), SUM(amount) FROM dwd_orders WHERE ds = '${bizdate}' GROUP BY region;
""",
    "ads_day": """
CREATE TABLE IF NOT EXISTS ads_day (regions BIGINT, orders BIGINT, total DOUBLE)
PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE ads_day PARTITION (ds = '${bizdate}')
SELECT COUNT(1), SUM(orders), SUM(total) FROM dws_region WHERE ds = '${bizdate}';
""",
}
CHECKS = {
    "dwd_orders": "SELECT ds, order_id, region, amount FROM dwd_orders ORDER BY ds, order_id",
    "dws_region": "SELECT ds, region, orders, total FROM dws_region ORDER BY ds, region",
    "ads_day": "SELECT ds, regions, orders, total FROM ads_day ORDER BY ds",
}


def write_workspace(root: Path, engine: str) -> Path:
    root.mkdir(parents=True)
    (root / "lakeworks.yml").write_text(
        f"name: scaleout\nsql_dialect: maxcompute\ntimezone: UTC\n{engine}"
        "resource_groups:\n  default:\n    slots: 1\n",
        encoding="utf-8",
    )
    flow = root / "workflows" / "daily"
    flow.mkdir(parents=True)
    # the schedule ended before today: only the backfill's instances run
    (flow / "workflow.yml").write_text(
        'schedule:\n  cycle: day\n  at: "02:00"\n  end: "2026-04-10"\n', "utf-8"
    )
    for name, sql in NODES.items():
        (flow / f"{name}.sql").write_text(sql.lstrip(), encoding="utf-8")
    return root


@dataclass
class Hosts:
    """A bridge with an address on this machine, and namespaces behind it."""

    bridge: str
    gateway: str
    names: dict[str, str]
    """host name → namespace"""
    addresses: dict[str, str]
    """host name → its address on the bridge"""


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    tag = uuid.uuid4().hex[:5]
    net = 200 + int(tag, 16) % 50
    bridge, gateway = f"lwbr{tag}", f"10.{net}.77.1"
    sh("ip", "link", "add", bridge, "type", "bridge")
    made: list[str] = []
    try:
        sh("ip", "addr", "add", f"{gateway}/24", "dev", bridge)
        sh("ip", "link", "set", bridge, "up")
        names: dict[str, str] = {}
        addresses: dict[str, str] = {}
        for n, host in enumerate(("scheduler", "worker-a", "worker-b", "spark"), start=11):
            ns, veth = f"lw{tag}{n}", f"lwv{tag}{n}"
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", bridge)
            sh("ip", "link", "set", veth, "up")
            sh("ip", "-n", ns, "addr", "add", f"10.{net}.77.{n}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", gateway)
            names[host] = ns
            addresses[host] = f"10.{net}.77.{n}"
        yield Hosts(bridge, gateway, names, addresses)
    finally:
        for ns in made:
            with contextlib.suppress(subprocess.CalledProcessError):
                sh("ip", "netns", "del", ns)
        with contextlib.suppress(subprocess.CalledProcessError):
            sh("ip", "link", "del", bridge)


class Forwarder:
    """Accepts on ``listen`` and relays each connection to ``target`` (PostgreSQL
    listens on the loopback only; the test hosts reach it through the bridge)."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(listen)
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()
        for s in self.sockets:
            s.close()


@pytest.fixture
def request_cleanup() -> Iterator[list[Callable[[], object]]]:
    """Steps run at the end of the test, last first, whatever happened."""
    steps: list[Callable[[], object]] = []
    yield steps
    for step in reversed(steps):
        step()


def wait_until(check: Callable[[], bool], seconds: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}\n{host_logs(logs)}")


def host_logs(logs: Path) -> str:
    """The end of every process log under ``logs``."""
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
        for p in sorted(logs.rglob("*.log"))
    )


@dataclass
class SparkCluster:
    master: str
    """``spark://host:7077``"""
    worker_log: Path


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """End a process started in a session of its own and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture
def spark_cluster(hosts: Hosts, tmp_path: Path) -> Iterator[SparkCluster]:
    """A Spark standalone master and one worker (2 cores, 1 GB for executors) on the
    ``spark`` host, both small JVMs; the executors it starts end with its worker."""
    address = hosts.addresses["spark"]
    folder = tmp_path / "spark-cluster"
    (folder / "work").mkdir(parents=True)
    env = {
        **os.environ,
        "SPARK_HOME": str(Path(SPARK_CLASS).parents[1]),
        "SPARK_LOCAL_IP": address,
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_WORKER_DIR": str(folder / "work"),
    }
    master = f"spark://{address}:7077"
    started: list[subprocess.Popen[bytes]] = []

    def start(role: str, *args: str) -> Path:
        log = folder / f"{role}.log"
        with log.open("ab") as out:
            started.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", hosts.names["spark"], SPARK_CLASS, *args],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
        return log

    try:
        master_log = start(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", address, "--port", "7077", "--webui-port", "0"),
        )
        worker_log = start(
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            master,
            *("--host", address, "--cores", "2", "--memory", "1g", "--webui-port", "0"),
            *("--work-dir", str(folder / "work")),
        )
        wait_until(
            lambda: "Registering worker" in master_log.read_text(errors="replace"),
            300,
            "the Spark worker to join the master",
            folder,
        )
        yield SparkCluster(master, worker_log)
    finally:
        for process in reversed(started):
            stop_group(process)


def test_scheduler_and_two_workers_on_three_hosts_share_the_lakehouse(
    tmp_path: Path,
    hosts: Hosts,
    spark_cluster: SparkCluster,
    scheduler_pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    request_cleanup: list[Callable[[], object]],
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    pg_url = new_schema_url(scheduler_pg_database)
    local = make_url(pg_url)
    pg_port, s3_port = free_port(), free_port()
    forward = Forwarder((hosts.gateway, pg_port), (local.host or "127.0.0.1", local.port or 5432))
    remote_url = local.set(host=hosts.gateway, port=pg_port).render_as_string(hide_password=False)
    moto = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("moto_server")),
            "-H",
            hosts.gateway,
            "-p",
            str(s3_port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    request_cleanup.append(lambda: (moto.send_signal(signal.SIGTERM), moto.wait(timeout=30)))
    request_cleanup.append(forward.close)
    endpoint = f"http://{hosts.gateway}:{s3_port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "LAKEWORKS_DATABASE_URL": remote_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # each Lakeworks worker is a driver: one executor (1 core, 512 MB) on the cluster
    spark_engine = (
        "engines:\n  default:\n    type: spark\n    options:\n"
        f"      master: {spark_cluster.master}\n"
        f"      shuffle_partitions: 2\n      warehouse: s3://lake/warehouse\n"
        f"      endpoint: {endpoint}\n"
        "      conf:\n        spark.cores.max: '1'\n        spark.executor.cores: '1'\n"
        "        spark.executor.memory: 512m\n"
    )
    ws = write_workspace(tmp_path / "spark-ws", spark_engine)
    try:
        import boto3

        deadline = time.monotonic() + 30
        while True:
            try:
                boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    region_name="us-east-1",
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                ).create_bucket(Bucket="lake")
                break
            except Exception:
                assert time.monotonic() < deadline, "moto did not start"
                time.sleep(0.3)

        def start(host: str, *args: str) -> None:
            log = (logs / f"{host}.log").open("ab")
            started.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        hosts.names[host],
                        LAKEWORKS,
                        *args,
                        "-w",
                        str(ws),
                        "--definition",
                        "folder",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # the address the cluster's executors reach this host's driver at
                    env={**env, "SPARK_LOCAL_IP": hosts.addresses[host]},
                    start_new_session=True,
                )
            )
            log.close()

        start("scheduler", "scheduler", "--no-worker", "--interval", "0.5")
        start("worker-a", "worker", "--name", "A", "--slots", "1")
        start("worker-b", "worker", "--name", "B", "--slots", "1")
        backfill = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                hosts.names["scheduler"],
                LAKEWORKS,
                "backfill",
                "start",
                "--all",
                "--parallel",
                "3",
                "--dates",
                f"{DATES[0]}-{DATES[-1]}",
                "-w",
                str(ws),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert backfill.returncode == 0, backfill.stdout + backfill.stderr

        with Database.open(pg_url) as db:
            repo = InstanceRepository(db)

            def all_done() -> bool:
                found = [i for i in repo.list(limit=1000) if i.run_type is RunType.BACKFILL]
                failed = [
                    i for i in found if i.state.is_terminal and i.state is not InstanceState.SUCCESS
                ]
                if failed:  # the reason, the node's log and the hosts' logs, to tell why
                    logs = LogRepository(db)
                    why = "\n".join(
                        f"{i.node_key} {i.state} on {i.worker}: {i.reason}\n"
                        + "\n".join(line.text for line in logs.read(i.id)[-40:])
                        for i in failed
                    )
                    pytest.fail(f"backfill instances failed:\n{why}\n{host_logs(tmp_path)}")
                return len(found) == len(NODES) * len(DATES) and all(
                    i.state is InstanceState.SUCCESS for i in found
                )

            wait_until(all_done, 600, "the backfill to succeed", tmp_path)
            workers = {
                a.worker
                for i in repo.list(limit=1000)
                for a in AttemptRepository(db).for_instance(i.id)
            }
        assert workers == {"A", "B"}, workers
        # both workers' Spark jobs ran on the cluster: it started executors for drivers
        # on both worker hosts
        drivers = set(
            re.findall(
                r"CoarseGrainedScheduler@([\d.]+):",
                spark_cluster.worker_log.read_text(errors="replace"),
            )
        )
        assert drivers == {hosts.addresses["worker-a"], hosts.addresses["worker-b"]}, drivers

    finally:
        for process in started:
            stop_group(process)

    store = Database.open(pg_url)
    lake = Lakehouse(
        store, open_storage("s3://lake/warehouse/prod", endpoint=endpoint), "scaleout/prod"
    )
    spark_side = LakehouseDuckDBEngine(lake, "prod")
    try:
        # the same SQL on DuckDB, one run per date
        duck = write_workspace(tmp_path / "duck-ws", "")
        for day in DATES:
            done = subprocess.run(
                [LAKEWORKS, "run", "-w", str(duck), "--bizdate", day, "-q"],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                env={k: v for k, v in os.environ.items() if k != "LAKEWORKS_DATABASE_URL"},
            )
            assert done.returncode == 0, done.stdout + done.stderr
        for table, query in CHECKS.items():
            expected = subprocess.run(
                [LAKEWORKS, "query", "-w", str(duck), "--format", "json", query],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            session = spark_side.session()
            try:
                got = session.execute(query)
            finally:
                session.close()
            rows = [dict(zip(got.columns, r, strict=True)) for r in got.rows]
            assert rows == json.loads(expected.stdout), table
    finally:
        lakehouse_duckdb.close_all()
        store.close()
