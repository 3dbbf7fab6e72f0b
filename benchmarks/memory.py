"""The server's memory with a large cloud registered, and its boot decisions there.

Usage: .venv/bin/python benchmarks/memory.py --hosts 10000 --pfs 2 --vfs 64 --physnets 4 \
           [--boots 20]

A data directory is bootstrapped (``vfplane bootstrap``) and the synthetic cloud of
``workload.py`` is written into its database (``cloud_db.py``): 10,000 hosts of
2 x 64 VFs are 1.28 million VFs. Then a real ``vfplane server`` starts on it; at
start-up it reads every host for its scheduler (``HostView``). The benchmark waits
for that, boots ``--boots`` servers with one ``direct`` port each through the REST
API (no agent runs, so they stay in BUILD once placed) and reports the time from
POST to the host being chosen, and the server's resident memory (VmRSS) and peak
(VmHWM) from ``/proc``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cloud_db
import workload

from vfplane.client import ApiClient, Credentials
from vfplane.db.engine import make_engine

VFPLANE = Path(sys.executable).with_name("vfplane")
SERVERS = "/compute/v2.1/servers"
COMPUTE = {"OpenStack-API-Version": "compute 2.96"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _memory_mb(pid: int) -> dict[str, float]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


def _admin(data_dir: Path, base: str) -> ApiClient:
    clouds = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"]
    auth = clouds["vfplane-admin"]["auth"]
    return ApiClient(base, Credentials(auth["username"], auth["password"], auth["project_name"]),
                     timeout=600)  # fmt: skip


def _wait_until_up(admin: ApiClient, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"vfplane server exited with {server.returncode}")
        try:
            admin.token()
            return
        except Exception:  # not listening yet
            time.sleep(0.2)
    raise RuntimeError("vfplane server did not answer in time")


def _placed(admin: ApiClient, server_id: str) -> dict[str, Any]:
    while True:
        server = admin.call("GET", f"{SERVERS}/{server_id}", headers=COMPUTE)["server"]
        if server["status"] == "ERROR" or server.get("OS-EXT-SRV-ATTR:host"):
            return dict(server)
        time.sleep(0.005)


def _boots(admin: ApiClient, count: int) -> list[float]:
    attrs = {"provider:network_type": "vlan", "provider:physical_network": "physnet0",
             "provider:segmentation_id": 100, "shared": True}  # fmt: skip
    network = admin.call(
        "POST", "/network/v2.0/networks", json={"network": {"name": "mem", **attrs}}
    )
    net_id = network["network"]["id"]
    admin.call("POST", "/network/v2.0/subnets", json={"subnet": {
        "network_id": net_id, "ip_version": 4, "cidr": "10.99.0.0/16"}})  # fmt: skip
    flavor = {"flavor": {"name": "mem.small", "vcpus": 1, "ram": 512, "disk": 1, "id": None}}
    flavor_id = admin.call("POST", "/compute/v2.1/flavors", json=flavor)["flavor"]["id"]
    timings = []
    for n in range(count):
        body = {"server": {"name": f"mem-{n}", "flavorRef": flavor_id,
                           "networks": [{"uuid": net_id, "vnic_type": "direct"}]}}  # fmt: skip
        start = time.perf_counter()
        created = admin.call("POST", SERVERS, json=body, headers=COMPUTE)["server"]
        server = _placed(admin, created["id"])
        timings.append((time.perf_counter() - start) * 1000.0)
        if server["status"] == "ERROR":
            raise RuntimeError(f"boot {n} failed: {server.get('fault')}")
    return timings


def run(args: argparse.Namespace, hosts_count: int, workdir: Path) -> dict[str, Any]:
    data_dir = workdir / f"data-{hosts_count}"
    subprocess.run([str(VFPLANE), "bootstrap", "--data-dir", str(data_dir)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    start = time.perf_counter()
    engine = make_engine(f"sqlite:///{data_dir / 'vfplane.db'}")
    hosts = workload.build_hosts(hosts_count, args.pfs, args.vfs, args.physnets)
    devices = cloud_db.populate(engine, hosts, agents=True)
    engine.dispose()
    del hosts
    populate_s = time.perf_counter() - start
    port = _free_port()
    physnets = [f"physnet{n}" for n in range(args.physnets)]
    env = {
        **os.environ,
        "VFPLANE_SERVER__PORT": str(port),
        "VFPLANE_NETWORK__NETWORK_VLAN_RANGES": json.dumps(physnets),
        "VFPLANE_NETWORK__AGENT_DOWN_TIME": "86400",
    }  # fmt: skip (no agent runs here)
    started = time.perf_counter()
    server = subprocess.Popen([str(VFPLANE), "server", "--data-dir", str(data_dir)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    admin = _admin(data_dir, f"http://127.0.0.1:{port}")
    try:
        _wait_until_up(admin, server, timeout=120)
        timings = _boots(admin, args.boots)
        first_boot_s = time.perf_counter() - started
        memory = _memory_mb(server.pid)
    finally:
        admin.close()
        server.terminate()
        server.wait(timeout=30)
    timings_sorted = sorted(timings[1:]) or timings
    return {"bench": "memory", "hosts": hosts_count, "vfs_per_host": args.pfs * args.vfs,
            "vfs": hosts_count * args.pfs * args.vfs, "devices": devices,
            "populate_s": round(populate_s, 1),
            "start_to_first_placement_s": round(first_boot_s - sum(timings[1:]) / 1000, 1),
            "first_boot_ms": round(timings[0], 1),
            "boot_placement_p50_ms": round(workload.percentile(timings_sorted, 0.5), 1),
            "boot_placement_max_ms": round(timings_sorted[-1], 1),
            "server_rss_mb": memory.get("VmRSS"),
            "server_peak_rss_mb": memory.get("VmHWM")}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workload.add_common_arguments(parser)
    parser.add_argument("--boots", type=int, default=20, help="servers booted and placed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vfplane-memory-") as workdir:
        for count in workload.host_counts(args.hosts):
            print(json.dumps(run(args, count, Path(workdir))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
