"""Acceptance on ``vfplane up``: the demo's every port form, the lifecycle through the real
``openstack`` client, and then a delete of everything that must give every device back and
leave every VF of the cluster as it was before."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.test_vfplane_up import Cluster, _openstack, cluster, eventually
from vfplane.cli.demo import run_demo
from vfplane.domain.vfstate import VfConfig

__all__ = ["cluster"]  # the module-scoped fixture: this module gets its own cluster

HOSTS = ("compute-1", "compute-2", "compute-3")


def _devices(cluster: Cluster) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for host in HOSTS:
        found += cluster.admin.call("GET", "/v1/devices", params={"host": host})["devices"]
    return found


def _all_vfs(cluster: Cluster) -> dict[tuple[str, str, int], VfConfig]:
    vfs = {}
    for device in _devices(cluster):
        if device["dev_type"] == "type-PF" and device.get("ifname"):
            nic = cluster.nic(device["host"])
            for index, vf in nic.read_vfs(device["ifname"]).items():
                vfs[(device["host"], device["ifname"], index)] = vf
    return vfs


def _server(cluster: Cluster, name: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(_openstack(cluster, "server", "show", name, "-f", "json"
                                                  ).stdout)  # fmt: skip
    return shown


def _status(cluster: Cluster, name: str, status: str) -> bool:
    return bool(_server(cluster, name)["status"] == status)


def _interfaces(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    server_id = _server(cluster, name)["id"]
    found: list[dict[str, Any]] = cluster.admin.call(
        "GET", f"/compute/v2.1/servers/{server_id}/os-interface"
    )["interfaceAttachments"]
    return found


def test_demo_lifecycle_and_delete_everything(cluster: Cluster) -> None:
    before = _all_vfs(cluster)
    assert before, "the cluster has VFs"
    lines: list[str] = []
    run_demo(cluster.admin, cluster.data_dir, lines.append)
    text = "\n".join(lines)
    for name in ("demo-direct", "demo-macvtap", "demo-pf", "demo-normal"):
        assert f"{name}: ACTIVE on compute-" in text, text
    assert "port direct: vif_type hw_veb, vlan 100, status ACTIVE" in text, text
    assert "port macvtap: vif_type hw_veb, vlan 200, status ACTIVE" in text, text
    assert "port direct-physical: vif_type hostdev_physical" in text, text
    assert "port normal: vif_type bridge" in text, text
    assert "vlan 100, spoofchk on" in text, text  # the agent configured the direct port's VF
    assert "interfaces changed by restarting the domain" in text, text  # no hot-plug here
    assert "demo-far-vm on physnet3: ERROR: No valid host was found" in text, text
    _boot_on_a_network(cluster)
    _lifecycle(cluster)
    _attach_and_detach(cluster)
    servers = json.loads(_openstack(cluster, "server", "list", "-f", "json").stdout)
    _openstack(cluster, "server", "delete", "--wait", *[s["ID"] for s in servers])

    def all_available() -> bool:
        return {d["status"] for d in _devices(cluster)} == {"available"}

    eventually(all_available, what="every device available")
    eventually(lambda: _all_vfs(cluster) == before, what="every VF as it was before the demo")


def _boot_on_a_network(cluster: Cluster) -> None:
    """``--nic net-id=``: Nova creates a normal port on the network; it is bridged."""
    network_id = _openstack(cluster, "network", "show", "demo-net1", "-f", "value", "-c",
                            "id").stdout.strip()  # fmt: skip
    created = json.loads(_openstack(cluster, "server", "create", "--flavor", "demo.small",
                                    "--image", "cirros-0.6.2", "--nic", f"net-id={network_id}",
                                    "--wait", "e2e-net", "-f", "json").stdout)  # fmt: skip
    assert created["status"] == "ACTIVE"
    (port,) = cluster.admin.call("GET", "/network/v2.0/ports",
                                 params={"device_id": created["id"]})["ports"]  # fmt: skip
    assert (port["network_id"], port["binding:vif_type"]) == (network_id, "bridge")


def _lifecycle(cluster: Cluster) -> None:
    _openstack(cluster, "server", "stop", "demo-direct")
    eventually(lambda: _status(cluster, "demo-direct", "SHUTOFF"), what="SHUTOFF")
    _openstack(cluster, "server", "start", "demo-direct")
    eventually(lambda: _status(cluster, "demo-direct", "ACTIVE"), what="ACTIVE after start")
    _openstack(cluster, "server", "stop", "demo-normal")  # a bridged port follows its domain
    eventually(lambda: _status(cluster, "demo-normal", "SHUTOFF"), what="normal SHUTOFF")
    (bridged,) = cluster.admin.call("GET", "/network/v2.0/ports",
                                    params={"device_id": _server(cluster, "demo-normal")["id"]}
                                    )["ports"]  # fmt: skip
    cluster.wait_status(bridged["id"], "DOWN")
    _openstack(cluster, "server", "start", "demo-normal")
    cluster.wait_status(bridged["id"], "ACTIVE")
    _openstack(cluster, "server", "reboot", "--soft", "--wait", "demo-direct")
    assert _status(cluster, "demo-direct", "ACTIVE")
    actions = _openstack(cluster, "server", "event", "list", "demo-direct", "-f", "json")
    assert {"create", "stop", "start", "reboot"} <= {a["Action"] for a in json.loads(
        actions.stdout)}  # fmt: skip


def _attach_and_detach(cluster: Cluster) -> None:
    port = _openstack(cluster, "port", "create", "--network", "demo-net1", "--vnic-type",
                      "direct", "e2e-extra", "-f", "value", "-c", "id").stdout.strip()  # fmt: skip
    _openstack(cluster, "server", "add", "port", "demo-macvtap", port)
    eventually(lambda: len(_interfaces(cluster, "demo-macvtap")) == 2, what="attached")
    bound = cluster.port(port)
    assert bound["binding:vif_type"] == "hw_veb"
    assert bound["binding:host_id"] == _server(cluster, "demo-macvtap")["OS-EXT-SRV-ATTR:host"]
    cluster.wait_status(port, "ACTIVE")
    _openstack(cluster, "server", "remove", "port", "demo-macvtap", port)
    eventually(lambda: cluster.port(port)["binding:host_id"] == "", what="detached and unbound")
    assert len(_interfaces(cluster, "demo-macvtap")) == 1
