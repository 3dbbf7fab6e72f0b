"""``vfplane up --demo``: a guided tour on the simulated cluster, through the real API."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vfplane.client import ApiClient
from vfplane.domain.vfstate import VfConfig
from vfplane.host.simulated_nic import SimulatedNic

PORTS = "/network/v2.0/ports"
COMPUTE = {"OpenStack-API-Version": "compute 2.96"}
Say = Callable[[str], None]


def _wait_status(admin: ApiClient, port_id: str, status: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    current = ""
    while time.monotonic() < deadline:
        current = admin.call("GET", f"{PORTS}/{port_id}")["port"]["status"]
        if current == status:
            break
        time.sleep(0.2)
    return current


def _vf_line(vf: VfConfig) -> str:
    return (f"mac {vf.mac}, vlan {vf.vlan}, spoofchk {'on' if vf.spoofchk else 'off'}, "
            f"trust {'on' if vf.trust else 'off'}, link {vf.link_state.value}, "
            f"rate {vf.min_tx_rate}-{vf.max_tx_rate} Mbps")  # fmt: skip


def _network(admin: ApiClient, say: Say) -> str:
    attrs = {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
             "provider:segmentation_id": 100}  # fmt: skip
    body = {"network": {"name": "demo-net", **attrs}}
    network: dict[str, Any] = admin.call("POST", "/network/v2.0/networks", json=body)["network"]
    subnet = {"subnet": {"network_id": network["id"], "ip_version": 4, "cidr": "10.10.0.0/24",
                         "name": "demo-subnet"}}  # fmt: skip
    admin.call("POST", "/network/v2.0/subnets", json=subnet)
    say("1. network demo-net: VLAN 100 on physnet1, subnet 10.10.0.0/24")
    return str(network["id"])


def run_demo(admin: ApiClient, data_dir: Path, say: Say) -> None:
    """Bind a direct port to a VF, watch the agent configure it, then show a refusal."""
    nic = SimulatedNic(data_dir / "hosts" / "compute-1" / "root")
    network_id = _network(admin, say)
    say(f"2. VF 0000:3b:02.1 of compute-1 before: {_vf_line(nic.read_vfs('ens1f0')[1])}")
    body = {"port": {"network_id": network_id, "name": "demo-port",
                     "binding:vnic_type": "direct", "binding:host_id": "compute-1",
                     "binding:profile": {"pci_slot": "0000:3b:02.1",
                                         "physical_network": "physnet1"}}}  # fmt: skip
    port = admin.call("POST", PORTS, json=body)["port"]
    details = port["binding:vif_details"]
    say(f"3. port demo-port bound: vif_type {port['binding:vif_type']}, vlan {details['vlan']}, "
        f"ip {port['fixed_ips'][0]['ip_address']}")  # fmt: skip
    status = _wait_status(admin, port["id"], "ACTIVE")
    say(f"4. the agent configured the VF, port {status}: {_vf_line(nic.read_vfs('ens1f0')[1])}")
    admin.call("PUT", f"{PORTS}/{port['id']}", json={"port": {"admin_state_up": False}})
    time.sleep(1.0)
    say(f"5. admin_state_up false → {_vf_line(nic.read_vfs('ens1f0')[1])}")
    body["port"].update(name="demo-lost", **{"binding:host_id": "compute-9"})
    lost = admin.call("POST", PORTS, json=body)["port"]
    say(f"6. a port bound to compute-9 (no agent there): {lost['binding:vif_type']}, because")
    for reason in lost["binding:failure_reasons"]:
        say(f"     {reason['driver']}: {reason['reason']}")
    say("   (`vfplane port explain demo-lost --os-cloud vfplane-admin` says the same)")
    _servers(admin, data_dir, network_id, say)


def _wait_server(admin: ApiClient, server_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        server: dict[str, Any] = admin.call("GET", f"/compute/v2.1/servers/{server_id}",
                                            headers=COMPUTE)["server"]  # fmt: skip
        if server["status"] != "BUILD" or time.monotonic() > deadline:
            return server
        time.sleep(0.3)


def _boot(admin: ApiClient, name: str, flavor_id: str, networks: list[dict[str, str]]) -> Any:
    body = {"server": {"name": name, "flavorRef": flavor_id, "networks": networks}}
    created = admin.call("POST", "/compute/v2.1/servers", json=body, headers=COMPUTE)
    return _wait_server(admin, created["server"]["id"])


def _servers(admin: ApiClient, data_dir: Path, network_id: str, say: Say) -> None:
    flavor = {"flavor": {"name": "demo.small", "vcpus": 1, "ram": 512, "disk": 1, "id": None}}
    flavor_id = admin.call("POST", "/compute/v2.1/flavors", json=flavor)["flavor"]["id"]
    server = _boot(admin, "demo-vm", flavor_id, [{"uuid": network_id, "vnic_type": "direct"}])
    host = server.get("OS-EXT-SRV-ATTR:host")
    ports = admin.call("GET", PORTS, params={"device_id": server["id"]})["ports"]
    slot = ports[0]["binding:profile"].get("pci_slot") if ports else None
    say(f"7. server demo-vm ({{\"uuid\": demo-net, \"vnic_type\": \"direct\"}}): "
        f"{server['status']} on {host}, VF {slot}")  # fmt: skip
    far = {"network": {"name": "demo-far", "provider:network_type": "flat",
                       "provider:physical_network": "physnet3"}}  # fmt: skip
    far_id = admin.call("POST", "/network/v2.0/networks", json=far)["network"]["id"]
    lost = _boot(admin, "demo-far-vm", flavor_id, [{"uuid": far_id, "vnic_type": "direct"}])
    say(f"8. server demo-far-vm on physnet3: {lost['status']}: {lost['fault']['message']}")
    say("   (`vfplane explain demo-far-vm --os-cloud vfplane-admin` gives it host by host)")
