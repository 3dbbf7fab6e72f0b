"""Acceptance on ``vfplane up``: agents configure simulated VFs for bound ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.e2e.conftest import BIN, _free_port
from vfplane.client import ApiClient, Credentials
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.host.simulated_nic import SimulatedNic

T = TypeVar("T")
PORTS = "/network/v2.0/ports"
FRESH_VF = VfConfig(mac="00:00:00:00:00:00")


def eventually(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check.__name__}")
        time.sleep(0.2)


@dataclass
class Cluster:
    data_dir: Path
    url: str
    admin: ApiClient
    process: subprocess.Popen[str]
    banner: tuple[str, ...] = ()  # what vfplane up printed until "ready"

    def nic(self, host: str) -> SimulatedNic:
        return SimulatedNic(self.data_dir / "hosts" / host / "root")

    def vf(self, host: str, pf: str, index: int) -> VfConfig:
        return self.nic(host).read_vfs(pf)[index]

    def agent_pid(self, host: str) -> int:
        return int((self.data_dir / "hosts" / host / "agent.pid").read_text())

    def port(self, port_id: str) -> dict[str, Any]:
        port: dict[str, Any] = self.admin.call("GET", f"{PORTS}/{port_id}")["port"]
        return port

    def bound_port(self, network_id: str, host: str, slot: str, **attrs: Any) -> dict[str, Any]:
        body = {"port": {"network_id": network_id, "binding:vnic_type": "direct",
                         "binding:host_id": host, "binding:profile": {"pci_slot": slot},
                         **attrs}}  # fmt: skip
        port: dict[str, Any] = self.admin.call("POST", PORTS, json=body)["port"]
        return port

    def update(self, port_id: str, **attrs: Any) -> None:
        self.admin.call("PUT", f"{PORTS}/{port_id}", json={"port": attrs})

    def wait_status(self, port_id: str, status: str) -> None:
        eventually(lambda: self.port(port_id)["status"] == status, what=f"{port_id} {status}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("up")
    port = _free_port()
    command = [str(BIN / "vfplane"), "up", "--data-dir", str(data_dir), "--port", str(port),
               "--report-interval", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.strip() == "ready":
            break
    else:
        raise RuntimeError("vfplane up ended before it was ready:\n" + "".join(lines))
    drain = threading.Thread(target=lines.extend, args=(process.stdout,), daemon=True)
    drain.start()  # keep reading, or a full pipe would block vfplane up
    auth = yaml.safe_load((data_dir / "clouds.yaml").read_text())["clouds"]["vfplane-admin"]["auth"]
    url = f"http://127.0.0.1:{port}"
    admin = ApiClient(url, Credentials(auth["username"], auth["password"], auth["project_name"]))
    yield Cluster(data_dir, url, admin, process, tuple(lines))
    admin.close()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    drain.join(timeout=5)
    process.stdout.close()
    assert "stopped" in lines[-1]


@pytest.fixture(scope="module")
def network_id(cluster: Cluster) -> str:
    attrs = {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
             "provider:segmentation_id": 142}  # fmt: skip
    created = cluster.admin.call("POST", "/network/v2.0/networks",
                                 json={"network": {"name": "up-net", **attrs}})  # fmt: skip
    network_id: str = created["network"]["id"]
    subnet = {"subnet": {"network_id": network_id, "ip_version": 4, "cidr": "10.42.0.0/24"}}
    cluster.admin.call("POST", "/network/v2.0/subnets", json=subnet)
    return network_id


def test_bound_port_configures_its_vf_and_turns_active(cluster: Cluster, network_id: str) -> None:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cluster.data_dir / "clouds.yaml")}
    created = subprocess.run(
        [str(BIN / "openstack"), "--os-cloud", "vfplane-admin", "port", "create", "--network",
         "up-net", "--vnic-type", "direct", "--host", "compute-1", "--binding-profile",
         "pci_slot=0000:3b:02.1", "--disable-port-security", "up-p1", "-f", "value", "-c", "id"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    port_id = created.stdout.strip()
    cluster.wait_status(port_id, "ACTIVE")
    port = cluster.port(port_id)
    assert cluster.vf("compute-1", "ens1f0", 1) == VfConfig(
        mac=port["mac_address"], vlan=142, spoofchk=False, link_state=LinkState.ENABLE
    )
    saved = cluster.data_dir / "hosts/compute-1/agent-state/ens1f0_vf1.json"
    assert saved.exists()


def test_admin_down_disables_the_link_and_qos_sets_rates(cluster: Cluster, network_id: str) -> None:
    port = cluster.bound_port(network_id, "compute-1", "0000:3b:02.2")
    cluster.wait_status(port["id"], "ACTIVE")
    cluster.update(port["id"], admin_state_up=False)
    eventually(lambda: cluster.vf("compute-1", "ens1f0", 2).link_state is LinkState.DISABLE)
    policy = cluster.admin.call(
        "POST", "/network/v2.0/qos/policies", json={"policy": {"name": "q"}}
    )
    policy_id = policy["policy"]["id"]
    rules = f"/network/v2.0/qos/policies/{policy_id}"
    cluster.admin.call("POST", f"{rules}/bandwidth_limit_rules",
                       json={"bandwidth_limit_rule": {"max_kbps": 10000}})  # fmt: skip
    cluster.admin.call("POST", f"{rules}/minimum_bandwidth_rules",
                       json={"minimum_bandwidth_rule": {"min_kbps": 500}})  # fmt: skip
    cluster.update(port["id"], qos_policy_id=policy_id, admin_state_up=True)
    vf = eventually(lambda: (lambda v: v if v.max_tx_rate == 10 else None)(
        cluster.vf("compute-1", "ens1f0", 2)), what="rates")  # fmt: skip
    assert (vf.max_tx_rate, vf.min_tx_rate, vf.link_state) == (10, 1, LinkState.ENABLE)


def test_unbinding_restores_the_original_vf(cluster: Cluster, network_id: str) -> None:
    port = cluster.bound_port(network_id, "compute-2", "0000:3b:02.3")
    cluster.wait_status(port["id"], "ACTIVE")
    assert cluster.vf("compute-2", "ens1f0", 3).mac == port["mac_address"]
    cluster.update(port["id"], **{"binding:host_id": "", "binding:profile": {}})
    eventually(lambda: cluster.vf("compute-2", "ens1f0", 3) == FRESH_VF, what="restore")
    saved = cluster.data_dir / "hosts/compute-2/agent-state/ens1f0_vf3.json"
    eventually(lambda: not saved.exists(), what="the saved original to be forgotten")
    assert cluster.port(port["id"])["status"] == "DOWN"


def test_killed_agent_restarts_and_converges_without_drift(
    cluster: Cluster, network_id: str
) -> None:
    pid = cluster.agent_pid("compute-3")
    os.kill(pid, signal.SIGSTOP)
    ports = [cluster.bound_port(network_id, "compute-3", f"0000:3b:00.{i}") for i in (4, 5)]
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: cluster.agent_pid("compute-3") != pid, what="the agent's restart")
    for port in ports:
        cluster.wait_status(port["id"], "ACTIVE")
    for port, index in zip(ports, (2, 3), strict=True):  # VFs 00.4 and 00.5 are VF 2 and 3
        vf = cluster.vf("compute-3", "ens1f0np0", index)
        assert (vf.mac, vf.vlan) == (port["mac_address"], 142)
    state_dir = cluster.data_dir / "hosts/compute-3/agent-state"
    assert sorted(p.name for p in state_dir.iterdir()) == [
        "ens1f0np0_vf2.json",
        "ens1f0np0_vf3.json",
    ]


def test_dead_agent_makes_sriovnicswitch_refuse(cluster: Cluster, network_id: str) -> None:
    pid = cluster.agent_pid("compute-2")
    os.kill(pid, signal.SIGSTOP)
    try:

        def refused() -> dict[str, Any] | None:
            port = cluster.bound_port(network_id, "compute-2", "0000:3b:02.5")
            if port["binding:vif_type"] == "binding_failed":
                return port
            cluster.admin.call("DELETE", f"{PORTS}/{port['id']}")
            return None

        port = eventually(refused, timeout=20, what="the agent to be considered dead")
        reasons = {r["driver"]: r["reason"] for r in port["binding:failure_reasons"]}
        assert "no alive NIC Switch agent on host compute-2" in reasons["sriovnicswitch"]
        assert "last heartbeat" in reasons["sriovnicswitch"]
    finally:
        os.kill(pid, signal.SIGCONT)

    def rebound() -> bool:
        cluster.update(port["id"], name="retry")  # any update is a rebinding chance
        return bool(cluster.port(port["id"])["binding:vif_type"] == "hw_veb")

    eventually(rebound, what="rebinding once the agent is back")


def test_hosts_and_devices_commands(cluster: Cluster, network_id: str) -> None:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cluster.data_dir / "clouds.yaml")}
    run = [sys.executable, "-m", "vfplane"]
    hosts = subprocess.run([*run, "hosts", "--os-cloud", "vfplane-admin", "--json"],
                           capture_output=True, text=True, env=env, check=True)  # fmt: skip
    assert "compute-3" in hosts.stdout
    port = cluster.bound_port(network_id, "compute-1", "0000:3b:02.6")
    devices = subprocess.run([*run, "devices", "--host", "compute-1", "--os-cloud",
                              "vfplane-admin", "--json"],
                             capture_output=True, text=True, env=env, check=True)  # fmt: skip
    assert port["id"] in devices.stdout


def _openstack(
    cluster: Cluster, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cluster.data_dir / "clouds.yaml")}
    command = [str(BIN / "openstack"), "--os-cloud", "vfplane-admin", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=check,
                          timeout=120)  # fmt: skip


def test_openstack_server_create_boots_on_a_vf(cluster: Cluster, network_id: str) -> None:
    _openstack(cluster, "flavor", "create", "--vcpus", "1", "--ram", "512", "--disk", "1", "m1")
    port = _openstack(cluster, "port", "create", "--network", "up-net", "--vnic-type", "direct",
                      "vm-port", "-f", "value", "-c", "id").stdout.strip()  # fmt: skip
    created = _openstack(cluster, "server", "create", "--flavor", "m1", "--image", "cirros-0.6.2",
                         "--nic", f"port-id={port}", "--wait", "vm1", "-f", "value", "-c", "id",
                         "-c", "status")  # fmt: skip
    server_id, status = created.stdout.split()
    assert status == "ACTIVE"
    bound = cluster.port(port)
    host, slot = bound["binding:host_id"], bound["binding:profile"]["pci_slot"]
    assert bound["binding:vif_details"]["vlan"] == "142"
    domain = cluster.admin.call("GET", f"/v1/devices?host={host}")
    assert {d["address"]: d["status"] for d in domain["devices"]}[slot] == "allocated"
    xml = cluster.admin._http.get(f"/v1/servers/{server_id}/domain",
                                  headers={"X-Auth-Token": cluster.admin.token()}).text  # fmt: skip
    assert '<interface type="hostdev"' in xml or "<interface type='hostdev'" in xml
    assert '<tag id="142"' in xml or "<tag id='142'" in xml
    _openstack(cluster, "server", "delete", "--wait", "vm1")
    after = cluster.admin.call("GET", f"/v1/devices?host={host}")["devices"]
    assert {d["address"]: d["status"] for d in after}[slot] == "available"


def test_server_that_cannot_fit_is_explained(cluster: Cluster) -> None:
    net = cluster.admin.call("POST", "/network/v2.0/networks", json={"network": {
        "name": "far", "provider:network_type": "flat",
        "provider:physical_network": "physnet3"}})["network"]  # fmt: skip
    port = cluster.admin.call("POST", PORTS, json={"port": {
        "network_id": net["id"], "binding:vnic_type": "direct"}})["port"]  # fmt: skip
    nic = f"port-id={port['id']}"
    result = _openstack(cluster, "server", "create", "--flavor", "m1", "--image", "cirros-0.6.2",
                        "--nic", nic, "--wait", "lost", check=False)  # fmt: skip
    assert result.returncode == 1
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cluster.data_dir / "clouds.yaml")}
    explained = subprocess.run([sys.executable, "-m", "vfplane", "explain", "lost", "--os-cloud",
                                "vfplane-admin"], capture_output=True, text=True, env=env,
                               check=False)  # fmt: skip
    assert explained.returncode == 1, explained.stderr
    assert "No valid host was found" in explained.stdout
    assert "physnet3" in explained.stdout


def test_the_banner_names_the_dashboard_and_metrics_and_both_answer(cluster: Cluster) -> None:
    banner = "".join(cluster.banner)
    assert f"dashboard: {cluster.url}/ui/" in banner, banner
    assert f"metrics: {cluster.url}/metrics" in banner, banner
    page = httpx.get(f"{cluster.url}/ui/")
    assert page.status_code == 200
    assert "vfplane" in page.text
    metrics = httpx.get(f"{cluster.url}/metrics")
    assert metrics.status_code == 200
    assert 'vfplane_physnet_vfs{physnet="physnet1",state="free"}' in metrics.text
