"""``vfplane up --demo``: the seed's boot flow on the simulated cluster, through the real API.

Networks on two physnets; servers with direct, macvtap, direct-physical and
normal ports; where each landed, its binding and its VF as the NIC holds it; an
interface attached to a running server; one request that cannot fit, explained.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vfplane.client import ApiClient
from vfplane.domain.vfstate import VfConfig
from vfplane.host.simulated_nic import SimulatedNic

PORTS = "/network/v2.0/ports"
SERVERS = "/compute/v2.1/servers"
COMPUTE = {"OpenStack-API-Version": "compute 2.96"}
Say = Callable[[str], None]
FORMS = (
    ("demo-direct", "demo-net1", "direct"),
    ("demo-macvtap", "demo-net2", "macvtap"),
    ("demo-pf", "demo-net1", "direct-physical"),
    ("demo-normal", "demo-net1", "normal"),
)


def _vf_line(vf: VfConfig) -> str:
    return (f"mac {vf.mac}, vlan {vf.vlan}, spoofchk {'on' if vf.spoofchk else 'off'}, "
            f"trust {'on' if vf.trust else 'off'}, link {vf.link_state.value}")  # fmt: skip


def _eventually(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def _network(admin: ApiClient, name: str, physnet: str, vlan: int, cidr: str) -> str:
    attrs = {"provider:network_type": "vlan", "provider:physical_network": physnet,
             "provider:segmentation_id": vlan, "shared": True}  # fmt: skip
    network = admin.call("POST", "/network/v2.0/networks",
                         json={"network": {"name": name, **attrs}})["network"]  # fmt: skip
    subnet = {"subnet": {"network_id": network["id"], "ip_version": 4, "cidr": cidr,
                         "name": f"{name}-subnet"}}  # fmt: skip
    admin.call("POST", "/network/v2.0/subnets", json=subnet)
    return str(network["id"])


class Demo:
    def __init__(self, admin: ApiClient, data_dir: Path, say: Say) -> None:
        self.admin, self.data_dir, self.say = admin, data_dir, say
        self.networks: dict[str, str] = {}

    def server(self, server_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.admin.call("GET", f"{SERVERS}/{server_id}",
                                                headers=COMPUTE)["server"]  # fmt: skip
        return found

    def wait(self, server_id: str, *settled: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            server = self.server(server_id)
            return server if server["status"] in settled else None

        found: dict[str, Any] = _eventually(done) or self.server(server_id)
        return found

    def boot(self, name: str, flavor_id: str, networks: list[dict[str, str]]) -> dict[str, Any]:
        body = {"server": {"name": name, "flavorRef": flavor_id, "networks": networks}}
        created = self.admin.call("POST", SERVERS, json=body, headers=COMPUTE)
        return self.wait(created["server"]["id"], "ACTIVE", "ERROR")

    def vf_state(self, host: str, slot: str) -> str:
        devices = self.admin.call("GET", "/v1/devices", params={"host": host})["devices"]
        device = next((d for d in devices if d["address"] == slot), None)
        if device is None or device["dev_type"] != "type-VF":
            return "a whole PF, given to the guest"
        nic = SimulatedNic(self.data_dir / "hosts" / host / "root")
        vf = nic.read_vfs(str(device["pf_ifname"]))[int(device["vf_index"])]
        return f"VF {slot} ({device['pf_ifname']} vf {device['vf_index']}): {_vf_line(vf)}"

    def describe(self, server: dict[str, Any]) -> None:
        host = server.get("OS-EXT-SRV-ATTR:host")
        self.say(f"   {server['name']}: {server['status']} on {host}")
        if server.get("fault"):
            fault = server["fault"]
            self.say(f"     fault: {fault['message']} {fault.get('details', '')}".rstrip())
        for port in self.admin.call("GET", PORTS, params={"device_id": server["id"]})["ports"]:
            details, profile = port["binding:vif_details"], port["binding:profile"]
            line = (f"     port {port['binding:vnic_type']}: vif_type {port['binding:vif_type']}"
                    f", vlan {details.get('vlan', '-')}, status {port['status']}")  # fmt: skip
            self.say(line)
            slot = profile.get("pci_slot")
            if slot and host:
                self.say(f"       {self.vf_state(host, slot)}")


def run_demo(admin: ApiClient, data_dir: Path, say: Say) -> None:
    """Boot every port form, attach an interface, explain a refusal; leave it all running."""
    demo = Demo(admin, data_dir, say)
    demo.networks["demo-net1"] = _network(admin, "demo-net1", "physnet1", 100, "10.10.0.0/24")
    demo.networks["demo-net2"] = _network(admin, "demo-net2", "physnet2", 200, "10.20.0.0/24")
    say("1. networks: demo-net1 = VLAN 100 on physnet1, demo-net2 = VLAN 200 on physnet2")
    flavor = {"flavor": {"name": "demo.small", "vcpus": 1, "ram": 512, "disk": 1, "id": None}}
    flavor_id = admin.call("POST", "/compute/v2.1/flavors", json=flavor)["flavor"]["id"]
    say("2. one server per port form (asked for by network and vnic_type, never by device):")
    booted = {}
    for name, network, vnic_type in FORMS:
        nic = {"uuid": demo.networks[network], "vnic_type": vnic_type}
        booted[name] = server = demo.boot(name, flavor_id, [nic])
        demo.describe(server)
    _attach(demo, booted["demo-direct"])
    _refusals(demo, flavor_id)
    say("   Continue by hand: openstack --os-cloud vfplane-admin server list")


def _attach(demo: Demo, server: dict[str, Any]) -> None:
    body = {"port": {"network_id": demo.networks["demo-net2"], "name": "demo-extra",
                     "binding:vnic_type": "direct"}}  # fmt: skip
    port = demo.admin.call("POST", PORTS, json=body)["port"]
    demo.admin.call(
        "POST",
        f"{SERVERS}/{server['id']}/os-interface",
        json={"interfaceAttachment": {"port_id": port["id"]}},
        headers=COMPUTE,
    )
    actions_path = f"{SERVERS}/{server['id']}/os-instance-actions"

    def attached() -> dict[str, Any] | None:
        actions = demo.admin.call("GET", actions_path)["instanceActions"]
        done = [a for a in actions if a["action"] == "attach_interface" and a["message"]]
        return done[-1] if done else None

    action = _eventually(attached)
    how = action["message"] if action else "still waiting for the agent"
    demo.say(f"3. `openstack server add port demo-direct demo-extra` (a VF on physnet2): {how}")
    demo.describe(demo.server(server["id"]))


def _refusals(demo: Demo, flavor_id: str) -> None:
    far = {"network": {"name": "demo-far", "provider:network_type": "flat",
                       "provider:physical_network": "physnet3"}}  # fmt: skip
    far_id = demo.admin.call("POST", "/network/v2.0/networks", json=far)["network"]["id"]
    lost = demo.boot("demo-far-vm", flavor_id, [{"uuid": far_id, "vnic_type": "direct"}])
    demo.say(f"4. server demo-far-vm on physnet3: {lost['status']}: {lost['fault']['message']}")
    demo.say("   (`vfplane explain demo-far-vm --os-cloud vfplane-admin` gives it host by host)")
