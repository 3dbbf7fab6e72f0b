"""Time for one simulated host's agent to turn a desired-state change into reported ports.

Usage: .venv/bin/python benchmarks/agent.py [--vfs-per-pf 128] [--ports 256] [--clients 4]
           [--no-paused] [--profile-agent FILE] [--keep]

One host, ``bench-1``: an Intel E810 (``e810`` lab profile, at most 128 VFs per PF), two
PFs, both cabled to ``physnet1``, prepared as ``vfplane up`` prepares its hosts (sysfs
tree, simulated NIC, libvirt test-driver node file, a host-scoped agent account). A real
``vfplane server`` process (SQLite in a temporary data dir) and a real ``vfplane agent``
process for the host.

Untimed set-up: ``--ports`` unbound ``direct`` ports on a VLAN network of ``physnet1``.
The change: ``--clients`` admin clients bind every port to its own VF as Nova does
(``binding:host_id``, and ``binding:profile`` with ``pci_slot``, ``pci_vendor_info`` and
``physical_network``); done when the API shows every port ``ACTIVE`` (then the simulated
NIC is checked: each VF has its port's MAC and VLAN). The reverse: the bindings are
cleared; done when every VF is back to its state from before and no saved original is left.

Two rounds. Live: the agent runs all along, so it works while the requests arrive;
``*_api_s`` is first request → last acknowledged, ``apply_s`` / ``release_s`` is last
acknowledgement → done (how far the agent lags behind the API), ``*_total_s`` first
request → done. Paused (skip with ``--no-paused``): the agent is stopped (SIGSTOP) while
the requests are made and resumed once all are acknowledged; ``converge_s`` /
``restore_s`` is resume → done, the whole change taken in at once. One JSON line:

    {"bench": "agent", "vfs": 256, "ports": 256, "bind_api_s": ..., "apply_s": ...,
     "bind_total_s": ..., "unbind_api_s": ..., "release_s": ..., "unbind_total_s": ...,
     "converge_s": ..., "restore_s": ...}

Everything started is stopped and the data dir removed at the end, also on errors
(``--keep`` keeps the data dir with the logs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from vfplane.cli.server import bootstrap_data_dir
from vfplane.cli.up import SimulatedHost, create_agent_accounts, prepare_host, wait_until_registered
from vfplane.client import ApiClient, Credentials
from vfplane.domain.vfstate import VfConfig
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.lab.cluster import ClusterSpec, HostSpec
from vfplane.lab.profiles import PROFILES
from vfplane.settings import Settings

HOST = "bench-1"
PROFILE = "e810"
PHYSNET = "physnet1"
VLAN = 100
PFS = 2
PORTS = "/network/v2.0/ports"
REPORT_INTERVAL = 5.0
AGENT_DOWN_TIME = 300  # the paused agent misses heartbeats; it must not count as dead
POLL = 0.02
TIMEOUT = 90.0
Job = Callable[[ApiClient], None]


class Processes:
    """The server and agent processes, stopped (agent first) however the run ends."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._running: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, name: str, command: Sequence[str]) -> subprocess.Popen[bytes]:
        self._logs.mkdir(parents=True, exist_ok=True)
        log = (self._logs / f"{name}.log").open("ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._running.append((process, log))
        return process

    def stop_all(self) -> None:
        """Stop the newest first; the others still are when stopping one fails."""
        if not self._running:
            return
        process, log = self._running.pop()
        try:
            _stop(process)
        finally:
            log.close()
            self.stop_all()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGINT (uvicorn then stops waiting for open long polls), then SIGKILL.

    A paused agent is resumed first, and given a moment: a signal sent to a stopped
    process may be taken by any of its threads, and only the main one acts on it.
    """
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)
    time.sleep(0.2)
    for signum in (signal.SIGTERM, signal.SIGINT):
        process.send_signal(signum)
        try:
            process.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            pass
    process.kill()
    process.wait()


@dataclass
class Lab:
    host: SimulatedHost
    admin: ApiClient
    clients: list[ApiClient]
    """``--clients`` admin clients, logged in, for the timed requests."""
    agent: subprocess.Popen[bytes]

    @property
    def nic(self) -> SimulatedNic:
        return SimulatedNic(self.host.directory / "root")

    def saved_originals(self) -> int:
        return len(list((self.host.directory / "agent-state").glob("*.json")))

    def pause_agent(self) -> None:
        self.agent.send_signal(signal.SIGSTOP)

    def resume_agent(self) -> None:
        self.agent.send_signal(signal.SIGCONT)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settings(data_dir: Path, port: int) -> Settings:
    return Settings.model_validate({
        "server": {"bind": "127.0.0.1", "port": port, "data_dir": str(data_dir)},
        "network": {"network_vlan_ranges": [f"{PHYSNET}:100:199"],
                    "agent_down_time": AGENT_DOWN_TIME},
    })  # fmt: skip


def _server_toml(settings: Settings) -> str:
    server, network = settings.server, settings.network
    return (
        f"[server]\nbind = {json.dumps(server.bind)}\nport = {server.port}\n"
        f"data_dir = {json.dumps(str(server.data_dir))}\n\n"
        f"[network]\nnetwork_vlan_ranges = {json.dumps(list(network.network_vlan_ranges))}\n"
        f"agent_down_time = {network.agent_down_time}\n"
    )


def _host_spec(vfs_per_pf: int) -> HostSpec:
    spec = HostSpec(name=HOST, profile=PROFILE, pfs=PFS, vfs=vfs_per_pf, vfio_vfs=0, numa=[0, 1],
                    physnets=[PHYSNET], vcpus=64, memory_mb=262144, numa_nodes=2)  # fmt: skip
    ClusterSpec(hosts=[spec])  # the checks a cluster file gets
    return spec


def _wait_for_server(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}); see its log")
        try:
            if httpx.get(f"{url}/identity/v3", timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the server did not start in time")


@contextmanager
def lab(args: argparse.Namespace) -> Iterator[Lab]:
    """A server and one agent on a fresh simulated host; all gone when the block ends."""
    data_dir = Path(tempfile.mkdtemp(prefix="vfplane-bench-agent-"))
    processes = Processes(data_dir / "logs")
    made: list[ApiClient] = []
    try:
        settings = _settings(data_dir, _free_port())
        url = settings.server.public_base()
        host = prepare_host(_host_spec(args.vfs_per_pf), data_dir, url, REPORT_INTERVAL)
        clouds = bootstrap_data_dir(settings)
        create_agent_accounts(settings, [host])
        (data_dir / "server.toml").write_text(_server_toml(settings))
        vfplane = [sys.executable, "-m", "vfplane"]
        server = processes.start("server", [*vfplane, "server", "--config",
                                            str(data_dir / "server.toml")])  # fmt: skip
        _wait_for_server(url, server, time.monotonic() + 30)
        if args.profile_agent:
            vfplane[1:1] = ["-m", "cProfile", "-o", str(args.profile_agent.resolve())]
        agent = processes.start("agent", [*vfplane, "agent", "--config", str(host.config)])
        auth = yaml.safe_load(clouds.read_text())["clouds"]["vfplane-admin"]["auth"]
        credentials = Credentials(auth["username"], auth["password"], auth["project_name"])
        made.extend(ApiClient(url, credentials, timeout=60.0) for _ in range(args.clients + 1))
        wait_until_registered(made[0], {HOST}, time.monotonic() + 60)
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            list(pool.map(ApiClient.token, made[1:]))  # log in, untimed
        yield Lab(host, made[0], made[1:], agent)
    finally:
        try:
            for client in made:
                client.close()
            processes.stop_all()
        finally:
            if args.keep:
                print(f"kept {data_dir}", file=sys.stderr)
            else:
                shutil.rmtree(data_dir, ignore_errors=True)


def _in_parallel(lab: Lab, jobs: Sequence[Job]) -> tuple[float, float]:
    """Run ``jobs`` spread over the lab's clients, one thread each; (start, end), monotonic."""
    clients = lab.clients

    def run(worker: int) -> None:
        for job in jobs[worker :: len(clients)]:
            job(clients[worker])

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        start = time.monotonic()
        list(pool.map(run, range(len(clients))))
        end = time.monotonic()
    return start, end


def _create_ports(lab: Lab, network_id: str, count: int) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = []

    def create(index: int) -> Job:
        body = {"port": {"network_id": network_id, "name": f"bench-{index:04d}",
                         "binding:vnic_type": "direct"}}  # fmt: skip
        return lambda client: ports.append(client.call("POST", PORTS, json=body)["port"])

    _in_parallel(lab, [create(i) for i in range(count)])
    return sorted(ports, key=lambda p: str(p["name"]))


def _binding(vf: dict[str, Any]) -> dict[str, Any]:
    """What Nova writes when it binds a port to a claimed VF."""
    profile = {"pci_slot": vf["address"], "physical_network": PHYSNET,
               "pci_vendor_info": f"{vf['vendor_id']}:{vf['product_id']}"}  # fmt: skip
    return {"binding:host_id": HOST, "binding:profile": profile}


def _update(port_id: str, attrs: dict[str, Any]) -> Job:
    return lambda client: client.call("PUT", f"{PORTS}/{port_id}", json={"port": attrs})


def _until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> float:
    """Poll ``check`` until it holds; the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting until {what}")
        time.sleep(POLL)
    return time.monotonic()


@dataclass
class Workload:
    """The ports, their VFs, and how the host's VFs looked before anything was bound."""

    lab: Lab
    ports: list[dict[str, Any]]
    vfs: list[dict[str, Any]]
    pfs: list[str]
    before: dict[tuple[str, int], VfConfig]

    def nic_state(self) -> dict[tuple[str, int], VfConfig]:
        nic = self.lab.nic
        return {(pf, i): config for pf in self.pfs for i, config in nic.read_vfs(pf).items()}

    def binds(self) -> list[Job]:
        return [_update(p["id"], _binding(vf)) for p, vf in zip(self.ports, self.vfs, strict=True)]

    def unbinds(self) -> list[Job]:
        return [_update(p["id"], {"binding:host_id": "", "binding:profile": {}})
                for p in self.ports]  # fmt: skip

    def misconfigured(self) -> list[str]:
        """The VFs without their port's MAC and VLAN."""
        state = self.nic_state()
        wanted = {(vf["pf_ifname"], vf["vf_index"]): (port["mac_address"], VLAN)
                  for port, vf in zip(self.ports, self.vfs, strict=True)}  # fmt: skip
        return [f"{pf} vf {index}" for (pf, index), (mac, vlan) in wanted.items()
                if (state[(pf, index)].mac, state[(pf, index)].vlan) != (mac, vlan)]  # fmt: skip

    def all_active(self) -> bool:
        """Every port ACTIVE in the API. The API is asked only once the NIC shows every VF
        configured: polling 256 ports is work for the server the agent is waiting on."""
        if self.misconfigured():
            return False
        params = {"binding:host_id": HOST, "fields": ["id", "status", "status_reason"]}
        ids = {p["id"] for p in self.ports}
        found = [p for p in self.lab.admin.call("GET", PORTS, params=params)["ports"]
                 if p["id"] in ids]  # fmt: skip
        errors = [p for p in found if p["status"] == "ERROR"]
        if errors:
            raise RuntimeError(f"{len(errors)} ports in ERROR, e.g. {errors[0]}")
        return len([p for p in found if p["status"] == "ACTIVE"]) == len(ids)

    def all_restored(self) -> bool:
        return self.lab.saved_originals() == 0 and self.nic_state() == self.before

    def check_configured(self) -> None:
        wrong = self.misconfigured()
        if wrong:
            raise RuntimeError(f"{len(wrong)} VFs are not configured for their ports: {wrong[:3]}")


def prepare(lab: Lab, args: argparse.Namespace) -> Workload:
    body = {"network": {"name": "bench-net", "provider:network_type": "vlan",
                        "provider:physical_network": PHYSNET,
                        "provider:segmentation_id": VLAN}}  # fmt: skip
    network_id = lab.admin.call("POST", "/network/v2.0/networks", json=body)["network"]["id"]
    devices = lab.admin.call("GET", "/v1/devices", params={"host": HOST})["devices"]
    vfs = sorted((d for d in devices if d["dev_type"] == "type-VF"), key=lambda d: d["address"])
    if len(vfs) < args.ports:
        raise RuntimeError(f"{args.ports} ports asked, the host reports {len(vfs)} VFs")
    vfs = vfs[: args.ports]
    ports = _create_ports(lab, network_id, args.ports)
    pfs = sorted({str(vf["pf_ifname"]) for vf in vfs})
    workload = Workload(lab, ports, vfs, pfs, {})
    workload.before = workload.nic_state()
    return workload


def live_round(work: Workload) -> dict[str, float]:
    start, acked = _in_parallel(work.lab, work.binds())
    done = _until(work.all_active, "every port is ACTIVE")
    work.check_configured()
    u_start, u_acked = _in_parallel(work.lab, work.unbinds())
    u_done = _until(work.all_restored, "every VF is back to its original state")
    return {"bind_api_s": acked - start, "apply_s": done - acked, "bind_total_s": done - start,
            "unbind_api_s": u_acked - u_start, "release_s": u_done - u_acked,
            "unbind_total_s": u_done - u_start}  # fmt: skip


def paused_round(work: Workload) -> dict[str, float]:
    lab = work.lab
    lab.pause_agent()
    _in_parallel(lab, work.binds())
    resumed = time.monotonic()
    lab.resume_agent()
    converged = _until(work.all_active, "every port is ACTIVE") - resumed
    work.check_configured()
    lab.pause_agent()
    _in_parallel(lab, work.unbinds())
    resumed = time.monotonic()
    lab.resume_agent()
    restored = _until(work.all_restored, "every VF is back to its original state") - resumed
    return {"converge_s": converged, "restore_s": restored}


def run(args: argparse.Namespace) -> dict[str, object]:
    with lab(args) as bench:
        work = prepare(bench, args)
        timings = live_round(work)
        if args.paused:
            timings.update(paused_round(work))
    line: dict[str, object] = {
        "bench": "agent", "nic": PROFILE, "pfs": PFS, "vfs_per_pf": args.vfs_per_pf,
        "vfs": PFS * args.vfs_per_pf, "ports": args.ports, "clients": args.clients,
    }  # fmt: skip
    line.update({name: round(seconds, 3) for name, seconds in timings.items()})
    return line


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    total_vfs = PROFILES[PROFILE].total_vfs
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vfs-per-pf", type=int, default=128,
                        help=f"VFs on each of the {PFS} PFs (1..{total_vfs})")  # fmt: skip
    parser.add_argument("--ports", type=int, default=256, help="ports to bind, one VF each")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    parser.add_argument("--no-paused", dest="paused", action="store_false",
                        help="skip the round with a paused agent")  # fmt: skip
    parser.add_argument("--profile-agent", type=Path, metavar="FILE",
                        help="run the agent under cProfile; its stats go to FILE")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the data dir and its logs")
    args = parser.parse_args(argv)
    if not 1 <= args.vfs_per_pf <= total_vfs:
        parser.error(f"--vfs-per-pf must be 1..{total_vfs}")
    if not 1 <= args.ports <= PFS * args.vfs_per_pf:
        parser.error(f"--ports must be 1..{PFS * args.vfs_per_pf} (one VF each)")
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    signal.signal(signal.SIGTERM, _interrupt)
    print(json.dumps(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
