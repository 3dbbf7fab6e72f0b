"""A small cloud for the fault tests: one host with a PF and two VFs, a flavor, boots."""

from __future__ import annotations

from typing import Any

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import heartbeat

SERVERS = "/compute/v2.1/servers"
NEW = {"OpenStack-API-Version": "compute 2.96"}
HOST = "compute-1"
PF = "0000:3b:00.0"
VFS = ["0000:3b:02.0", "0000:3b:02.1"]


def register_host(api: Api, *, agent: bool = True, mapped: str = "physnet1") -> None:
    """Report the host's devices (on physnet1); with ``agent``, its agent heartbeats too,
    mapping ``mapped`` to the PF's netdev."""
    tags = {"physical_network": "physnet1"}
    devices = [{"address": PF, "vendor_id": "8086", "product_id": "1572", "dev_type": "type-PF",
                "physical_network": "physnet1", "tags": tags, "mac": "3c:fd:fe:00:00:01",
                "ifname": "ens1f0", "numa_node": 0}]  # fmt: skip
    vf_facts = {"vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF",
                "parent_addr": PF, "pf_ifname": "ens1f0", "numa_node": 0,
                "physical_network": "physnet1", "tags": tags}  # fmt: skip
    devices += [{"address": vf, "vf_index": i, "ifname": f"ens1f0v{i}", **vf_facts}
                for i, vf in enumerate(VFS)]  # fmt: skip
    body = {"vcpus": 16, "memory_mb": 32768, "numa_topology": [{"id": 0}], "devices": devices}
    assert api.put("admin", f"/v1/hosts/{HOST}", body).status_code == 200
    if agent:
        assert heartbeat(api, HOST, mappings={mapped: ["ens1f0"]}).status_code == 200


def flavor(api: Api) -> dict[str, Any]:
    """The flavor as the boot flow takes it (id, name, vcpus, ram, disk, extra_specs)."""
    found = api.get("admin", "/compute/v2.1/flavors/detail").json()["flavors"]
    if not found:
        body = {"flavor": {"name": "m1", "vcpus": 2, "ram": 1024, "disk": 1, "id": None}}
        found = [api.post("admin", "/compute/v2.1/flavors", body).json()["flavor"]]
    shown = found[0]
    return {"id": str(shown["id"]), "name": shown["name"], "vcpus": shown["vcpus"],
            "ram": shown["ram"], "disk": shown["disk"], "extra_specs": {}}  # fmt: skip


def boot(api: Api, networks: list[dict[str, Any]]) -> dict[str, Any]:
    body = {"server": {"name": "vm", "flavorRef": flavor(api)["id"], "networks": networks}}
    response = api.post("admin", SERVERS, body, headers=NEW)
    assert response.status_code == 202, response.text
    return show_server(api, response.json()["server"]["id"])


def show_server(api: Api, server_id: str) -> dict[str, Any]:
    response = api.get("admin", f"{SERVERS}/{server_id}", headers=NEW)
    assert response.status_code == 200, response.text
    server: dict[str, Any] = response.json()["server"]
    return server


def device_states(api: Api) -> dict[str, str]:
    rows = api.get("admin", f"/v1/devices?host={HOST}").json()["devices"]
    return {d["address"]: d["status"] for d in rows}


def port_left_alone(api: Api, port_id: str) -> bool:
    """Whether the port is no server's and bound nowhere, as before the boot."""
    port = api.get("admin", f"/network/v2.0/ports/{port_id}").json()["port"]
    return (port["device_id"], port["binding:host_id"]) == ("", "")
