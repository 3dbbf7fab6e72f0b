"""End-to-end boots through the REST API on a real ``vfplane up`` with concurrent clients.

Usage: .venv/bin/python benchmarks/boot.py [--clients 16] [--servers 200] [--hosts 4] \
           [--poll-interval 0.01] [--report-interval 10] [--max-seconds 45] [--keep] \
           [--py-spy FILE [--py-spy-args '--gil --rate 100']] [--launcher SCRIPT]

For each ``--clients`` count (comma-separated; a fresh ``vfplane up`` each) it starts
``vfplane up`` on simulated X710 hosts (both PFs on physnet1, enough VFs for every boot) in a
temporary data dir, without the demo. Untimed: a VLAN network on physnet1 with a /16 subnet,
a flavor, one token per client. Timed: each client thread repeatedly creates a ``direct``
port, POSTs /servers with it and polls GET /servers/{id} every ``--poll-interval`` seconds
until ACTIVE (ERROR or ``--boot-timeout`` counts as an error), until ``--servers`` boots have
started or ``--max-seconds`` have passed. Then it deletes every server and port and checks
that every device is back in the state it had before. One JSON line per client count:

    {"bench": "boot", "clients": 16, "servers": 200, "active": 200, "errors": 0,
     "p50_ms": ..., "p99_ms": ..., "boots_per_s": ..., "server_peak_rss_mb": ..., ...}

``p50_ms``/``p99_ms`` are POST /servers → the first poll that sees ACTIVE (so they include up
to one poll interval); ``db_p50_ms``/``db_p99_ms`` are the server's own ``launched_at -
created_at`` from the database (no polling in them). ``boots_per_s`` is ACTIVE servers over the
wall time of the timed phase (port creation included). ``server_peak_rss_mb`` is VmHWM of the
``vfplane up`` process, which runs the API server in-process (the agents are child processes,
their CPU time is ``agents_cpu_s``). ``--py-spy FILE`` records the server process with py-spy
(on PATH or beside the interpreter) during the timed phase, as collapsed stacks;
``--launcher`` runs a Python script instead of ``-m vfplane`` (a wrapper that instruments the
server, say); it gets the same ``up …`` arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from vfplane.client import ApiClient, Credentials

sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import percentile

NETWORKS = "/network/v2.0/networks"
PORTS = "/network/v2.0/ports"
SERVERS = "/compute/v2.1/servers"
PFS_PER_HOST = 2
MAX_VFS_PER_PF = 64  # the X710's sriov_totalvfs
PHYSNET = "physnet1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the cluster -------------------------------------------------------------------------------


def cluster_toml(hosts: int, vfs_per_pf: int) -> str:
    """Simulated X710 hosts with both PFs on physnet1; CPU and RAM never the limit."""
    entry = (
        '[[hosts]]\nname = "bench-{i}"\nprofile = "x710"\npfs = 2\nvfs = {vfs}\n'
        'numa = [0, 1]\nphysnets = ["physnet1"]\nvcpus = 128\nmemory_mb = 262144\n'
        "numa_nodes = 2\n\n"
    )
    return "".join(entry.format(i=i + 1, vfs=vfs_per_pf) for i in range(hosts))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _kib_to_mb(value: str | None) -> float | None:
    return round(int(value.split()[0]) / 1024, 1) if value else None


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (threads included, children not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Cloud:
    """One running ``vfplane up`` in a data dir of its own."""

    data_dir: Path
    url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def agent_pids(self) -> list[int]:
        pids = []
        for path in (self.data_dir / "hosts").glob("*/agent.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(path.read_text()))
        return pids

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of the server process and of its agents."""
        return _cpu_seconds(self.pid), sum(_cpu_seconds(p) for p in self.agent_pids())

    def admin_auth(self) -> dict[str, str]:
        clouds = yaml.safe_load((self.data_dir / "clouds.yaml").read_text())
        auth: dict[str, str] = clouds["clouds"]["vfplane-admin"]["auth"]
        return auth

    def token(self) -> str:
        auth = self.admin_auth()
        credentials = Credentials(auth["username"], auth["password"], auth["project_name"])
        client = ApiClient(self.url, credentials, timeout=30)
        try:
            return client.token()
        finally:
            client.close()


def start_cloud(root: Path, args: argparse.Namespace, vfs_per_pf: int) -> Cloud:
    data_dir = root / "data"
    cluster = root / "cluster.toml"
    cluster.write_text(cluster_toml(args.hosts, vfs_per_pf))
    port = _free_port()
    vfplane = [args.launcher] if args.launcher else ["-m", "vfplane"]
    command = [
        sys.executable,
        *vfplane,
        "up",
        "--hosts",
        str(cluster),
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--report-interval",
        str(args.report_interval),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    cloud = Cloud(data_dir, f"http://127.0.0.1:{port}", process)
    ready = threading.Event()

    def drain() -> None:  # keep reading, or a full pipe would block vfplane up
        assert process.stdout is not None
        for line in process.stdout:
            cloud.output.append(line)
            if line.strip() == "ready":
                ready.set()

    threading.Thread(target=drain, daemon=True, name="vfplane-up-output").start()
    deadline = time.monotonic() + 90
    while not ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_cloud(cloud)
            raise RuntimeError("vfplane up did not get ready:\n" + "".join(cloud.output))
    return cloud


def stop_cloud(cloud: Cloud) -> None:
    """SIGINT (vfplane up stops its agents), then SIGKILL to its process group if it hangs."""
    process = cloud.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for pid in cloud.agent_pids():  # agents left behind by a killed vfplane up
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().find(b"vfplane") >= 0:
                os.kill(pid, signal.SIGKILL)


# --- the clients -------------------------------------------------------------------------------


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"X-Auth-Token": token}, timeout=60)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None


@dataclass
class Boot:
    index: int
    port_id: str | None = None
    server_id: str | None = None
    port_ms: float | None = None
    post_ms: float | None = None
    active_ms: float | None = None
    polls: int = 0
    error: str | None = None


@dataclass
class Plan:
    network_id: str
    flavor_id: str
    servers: int
    poll_interval: float
    boot_timeout: float
    deadline: float  # perf_counter: no new boot starts after it
    counter: itertools.count[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_index(self) -> int | None:
        with self.lock:
            index = next(self.counter)
        return index if index < self.servers and time.perf_counter() < self.deadline else None


def boot_one(api: Api, plan: Plan, boot: Boot) -> None:
    start = time.perf_counter()
    body: dict[str, Any] = {
        "port": {
            "network_id": plan.network_id,
            "name": f"bench-{boot.index}",
            "binding:vnic_type": "direct",
        }
    }
    boot.port_id = api.call("POST", PORTS, json=body)["port"]["id"]
    posted = time.perf_counter()
    boot.port_ms = (posted - start) * 1000
    body = {
        "server": {
            "name": f"bench-{boot.index}",
            "flavorRef": plan.flavor_id,
            "networks": [{"port": boot.port_id}],
        }
    }
    boot.server_id = api.call("POST", SERVERS, json=body)["server"]["id"]
    boot.post_ms = (time.perf_counter() - posted) * 1000
    deadline = posted + plan.boot_timeout
    while True:
        server = api.call("GET", f"{SERVERS}/{boot.server_id}")["server"]
        boot.polls += 1
        if server["status"] == "ACTIVE":
            boot.active_ms = (time.perf_counter() - posted) * 1000
            return
        if server["status"] == "ERROR":
            fault = server.get("fault") or {}
            boot.error = f"ERROR: {fault.get('message', '?')} {fault.get('details', '')}".strip()
            return
        if time.perf_counter() > deadline:
            boot.error = f"timeout: still {server['status']} after {plan.boot_timeout:.0f} s"
            return
        time.sleep(plan.poll_interval)


def client(api: Api, plan: Plan, results: list[Boot]) -> None:
    while (index := plan.next_index()) is not None:
        boot = Boot(index)
        results.append(boot)  # list.append is atomic
        try:
            boot_one(api, plan, boot)
        except (RuntimeError, httpx.HTTPError) as exc:
            boot.error = f"{type(exc).__name__}: {exc}"


def run_threads(count: int, target: Any, args_of: Any) -> None:
    threads = [threading.Thread(target=target, args=args_of(i), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def delete_all(apis: list[Api], boots: list[Boot]) -> list[str]:
    """Delete every server, then every port; the errors met."""
    errors: list[str] = []
    shards = [boots[i :: len(apis)] for i in range(len(apis))]

    def worker(api: Api, mine: list[Boot]) -> None:
        for boot in mine:
            for path in (
                f"{SERVERS}/{boot.server_id}" if boot.server_id else None,
                f"{PORTS}/{boot.port_id}" if boot.port_id else None,
            ):
                if path is None:
                    continue
                try:
                    api.call("DELETE", path)
                except (RuntimeError, httpx.HTTPError) as exc:
                    if " 404 " not in str(exc):
                        errors.append(str(exc))

    run_threads(len(apis), worker, lambda i: (apis[i], shards[i]))
    return errors


def device_statuses(api: Api) -> dict[str, str]:
    """host/address → status of every device."""
    devices = api.call("GET", "/v1/devices")["devices"]
    return {f"{d['host']}/{d['address']}": d["status"] for d in devices}


def wait_settled(api: Api, before: dict[str, str], timeout: float) -> dict[str, str]:
    """Devices whose status still differs from ``before`` (``{}`` once all are back)."""
    deadline = time.monotonic() + timeout
    while True:
        now = device_statuses(api)
        changed = {
            k: now.get(k, "missing")
            for k in before.keys() | now.keys()
            if now.get(k) != before.get(k)
        }
        if not changed or time.monotonic() > deadline:
            return changed
        time.sleep(0.2)


def db_timings(data_dir: Path) -> list[float]:
    """launched_at - created_at of every ACTIVE server, in ms, as the server recorded them."""
    uri = f"file:{data_dir / 'vfplane.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as db:
        rows = db.execute(
            "SELECT created_at, launched_at FROM servers WHERE launched_at IS NOT NULL"
        ).fetchall()
    return sorted(
        (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() * 1000
        for a, b in rows
    )


@contextlib.contextmanager
def profiling(args: argparse.Namespace, pid: int, clients: int) -> Iterator[None]:
    """py-spy on the server process for the timed phase, when ``--py-spy`` asks for it."""
    if not args.py_spy:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    output = args.py_spy.replace("{clients}", str(clients))
    command = [
        spy,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--output",
        output,
        "--nonblocking",
        *args.py_spy_args.split(),
    ]
    with Path(f"{output}.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- one configuration -------------------------------------------------------------------------


def _ms(values: list[float], fraction: float) -> float | None:
    value = percentile(values, fraction)
    return None if math.isnan(value) else round(value, 1)


def setup(cloud: Cloud, api: Api) -> tuple[str, str]:
    body = {
        "network": {
            "name": "bench-net",
            "provider:network_type": "vlan",
            "provider:physical_network": PHYSNET,
            "provider:segmentation_id": 100,
            "shared": True,
        }
    }
    network_id = api.call("POST", NETWORKS, json=body)["network"]["id"]
    subnet = {
        "subnet": {
            "network_id": network_id,
            "ip_version": 4,
            "cidr": "10.64.0.0/16",
            "name": "bench-subnet",
        }
    }
    api.call("POST", "/network/v2.0/subnets", json=subnet)
    flavor = {"flavor": {"name": "bench.tiny", "vcpus": 1, "ram": 256, "disk": 1, "id": None}}
    flavor_id = api.call("POST", "/compute/v2.1/flavors", json=flavor)["flavor"]["id"]
    return network_id, flavor_id


def run(args: argparse.Namespace, clients: int) -> dict[str, Any]:
    vfs_per_pf = args.vfs or min(
        MAX_VFS_PER_PF, math.ceil(args.servers * 1.1 / (args.hosts * PFS_PER_HOST))
    )
    capacity = args.hosts * PFS_PER_HOST * vfs_per_pf
    if capacity < args.servers:
        raise SystemExit(
            f"{args.hosts} hosts x {PFS_PER_HOST} PFs x {vfs_per_pf} VFs = "
            f"{capacity} VFs, fewer than --servers {args.servers}; add --hosts"
        )
    root = Path(tempfile.mkdtemp(prefix="vfplane-boot-"))
    cloud: Cloud | None = None
    apis: list[Api] = []
    try:
        started = time.perf_counter()
        cloud = start_cloud(root, args, vfs_per_pf)
        startup_s = time.perf_counter() - started
        print(
            f"vfplane up: pid {cloud.pid}, {cloud.url}, data dir {cloud.data_dir}",
            file=sys.stderr,
            flush=True,
        )  # for a profiler
        apis = [Api(cloud.url, cloud.token()) for _ in range(clients)]
        network_id, flavor_id = setup(cloud, apis[0])
        devices_before = device_statuses(apis[0])
        rss_ready = _kib_to_mb(_proc_status(cloud.pid).get("VmRSS"))
        cpu_before = cloud.cpu()
        load = os.getloadavg()[0]  # others' work on this machine skews every number
        started = time.perf_counter()
        plan = Plan(
            network_id,
            flavor_id,
            args.servers,
            args.poll_interval,
            args.boot_timeout,
            started + args.max_seconds,
        )
        boots: list[Boot] = []
        with profiling(args, cloud.pid, clients):
            run_threads(clients, client, lambda i: (apis[i], plan, boots))
        wall = time.perf_counter() - started
        cpu_after = cloud.cpu()
        status = _proc_status(cloud.pid)
        server_side = db_timings(cloud.data_dir)
        deleting = time.perf_counter()
        delete_errors = delete_all(apis, boots)
        delete_s = time.perf_counter() - deleting
        devices_after = wait_settled(apis[0], devices_before, args.settle_timeout)
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
    finally:
        try:
            for api in apis:
                api.http.close()
            if cloud is not None:
                stop_cloud(cloud)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)

    active = sorted(b.active_ms for b in boots if b.active_ms is not None)
    errors = [b.error for b in boots if b.error]
    posts = sorted(b.post_ms for b in boots if b.post_ms is not None)
    port_creates = sorted(b.port_ms for b in boots if b.port_ms is not None)
    return {
        "bench": "boot",
        "clients": clients,
        "servers": args.servers,
        "hosts": args.hosts,
        "vfs_per_host": PFS_PER_HOST * vfs_per_pf,
        "poll_interval_ms": round(args.poll_interval * 1000, 1),
        "report_interval_s": args.report_interval,
        "booted": len(boots),
        "active": len(active),
        "errors": len(errors),
        "faults": dict(Counter(e[:160] for e in errors).most_common(5)),
        "p50_ms": _ms(active, 0.50),
        "p90_ms": _ms(active, 0.90),
        "p99_ms": _ms(active, 0.99),
        "max_ms": round(active[-1], 1) if active else None,
        "db_p50_ms": _ms(server_side, 0.50),
        "db_p99_ms": _ms(server_side, 0.99),
        "post_p50_ms": _ms(posts, 0.50),
        "post_p99_ms": _ms(posts, 0.99),
        "port_create_p50_ms": _ms(port_creates, 0.50),
        "polls_per_boot": round(sum(b.polls for b in boots) / max(1, len(boots)), 1),
        "boots_per_s": round(len(active) / wall, 1),
        "wall_s": round(wall, 2),
        "server_peak_rss_mb": _kib_to_mb(status.get("VmHWM")),
        "server_rss_ready_mb": rss_ready,
        "server_rss_end_mb": _kib_to_mb(status.get("VmRSS")),
        "server_cpu_s": round(cpu_after[0] - cpu_before[0], 2),
        "server_cpu_ms_per_boot": round(
            1000 * (cpu_after[0] - cpu_before[0]) / max(1, len(active)), 1
        ),
        "agents_cpu_s": round(cpu_after[1] - cpu_before[1], 2),
        "loadavg_1m_before": round(load, 2),
        "startup_s": round(startup_s, 1),
        "delete_s": round(delete_s, 2),
        "delete_errors": len(delete_errors),
        "devices": len(devices_before),
        "devices_before": dict(Counter(devices_before.values())),
        "devices_settled": not devices_after,
        "devices_not_settled": dict(sorted(devices_after.items())[:10]),
    }


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="16", help="comma-separated client counts")
    parser.add_argument("--servers", type=int, default=200, help="boots per client count")
    parser.add_argument("--hosts", type=int, default=4, help="simulated hosts (2 PFs each)")
    parser.add_argument(
        "--vfs", type=int, default=0, help="VFs per PF (default: enough for --servers, at most 64)"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.01,
        help="seconds between a client's GET /servers/{id} polls",
    )
    parser.add_argument(
        "--report-interval",
        type=float,
        default=10.0,
        help="vfplane up --report-interval (the agents' heartbeat period)",
    )
    parser.add_argument(
        "--boot-timeout",
        type=float,
        default=60.0,
        help="seconds from POST until a boot that is not ACTIVE is an error",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=45.0,
        help="start no new boot after this long (booted < servers then)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for every device to be available after deleting",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--launcher",
        help="a Python script to run instead of `-m vfplane` "
        "(e.g. a wrapper that instruments the server)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="record the server with py-spy during the timed phase into FILE "
        "(collapsed stacks; {clients} is replaced)",
    )
    parser.add_argument(
        "--py-spy-args",
        default="--rate 100",
        help="more py-spy record options, e.g. '--gil --rate 50'",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # clean up on kill, too
    for clients in (int(c) for c in args.clients.split(",")):
        print(json.dumps(run(args, clients)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
