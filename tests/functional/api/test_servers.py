"""Booting servers: PCI requests from ports, scheduling, claims, bindings, rollback."""

from __future__ import annotations

from typing import Any

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import heartbeat, make_network, make_port, make_subnet
from vfplane.api.app import SYSTEM
from vfplane.api.compute.servers import boot_tools
from vfplane.service.server_ports import ServerPort, bind_ports, release_ports

SERVERS = "/compute/v2.1/servers"
NEW = {"OpenStack-API-Version": "compute 2.96"}
PF = "0000:3b:00.0"
VFS = ["0000:3b:02.0", "0000:3b:02.1"]


def _register(api: Api, host: str = "compute-1", physnet: str = "physnet1") -> None:
    tags = {"physical_network": physnet}
    devices = [{"address": PF, "vendor_id": "8086", "product_id": "1572", "dev_type": "type-PF",
                "physical_network": physnet, "tags": tags, "mac": "3c:fd:fe:00:00:01",
                "ifname": "ens1f0", "numa_node": 0}]  # fmt: skip
    vf_facts = {"vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF",
                "parent_addr": PF, "pf_ifname": "ens1f0", "numa_node": 0,
                "physical_network": physnet, "tags": tags}  # fmt: skip
    devices += [{"address": vf, "vf_index": i, "ifname": f"ens1f0v{i}", **vf_facts}
                for i, vf in enumerate(VFS)]  # fmt: skip
    body = {"vcpus": 16, "memory_mb": 32768, "numa_topology": [{"id": 0}], "devices": devices}
    assert api.put("admin", f"/v1/hosts/{host}", body).status_code == 200
    heartbeat(api, host, mappings={physnet: ["ens1f0"]})


def _flavor(api: Api) -> str:
    body = {"flavor": {"name": "m1", "vcpus": 2, "ram": 1024, "disk": 1, "id": None}}
    return str(api.post("admin", "/compute/v2.1/flavors", body).json()["flavor"]["id"])


def _boot(api: Api, networks: Any, who: str = "admin") -> dict[str, Any]:
    body = {"server": {"name": "vm", "flavorRef": _flavor_id(api), "networks": networks}}
    response = api.post(who, SERVERS, body, headers=NEW)
    assert response.status_code == 202, response.text
    server: dict[str, Any] = api.get(who, f"{SERVERS}/{response.json()['server']['id']}",
                                     headers=NEW).json()["server"]  # fmt: skip
    return server


def _flavor_id(api: Api) -> str:
    flavors = api.get("admin", "/compute/v2.1/flavors").json()["flavors"]
    return str(flavors[0]["id"]) if flavors else _flavor(api)


def _devices(api: Api) -> dict[str, str]:
    rows = api.get("admin", "/v1/devices?host=compute-1").json()["devices"]
    return {d["address"]: d["status"] for d in rows}


def test_direct_port_lands_on_a_vf_and_goes_active(api: Api) -> None:
    _register(api)
    network_id = make_network(api, vlan=101)
    make_subnet(api, network_id)
    port = make_port(api, "admin", network_id, **{"binding:vnic_type": "direct"})
    server = _boot(api, [{"port": port["id"]}])
    assert (server["status"], server["OS-EXT-SRV-ATTR:host"]) == ("BUILD", "compute-1")
    bound = api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]
    assert bound["binding:vif_type"] == "hw_veb"
    assert bound["binding:vif_details"]["vlan"] == "101"
    profile = bound["binding:profile"]
    assert profile["pci_slot"] in VFS
    assert profile["pci_vendor_info"] == "8086:154c"
    assert profile["physical_network"] == "physnet1"
    assert profile["pf_mac_address"] == "3c:fd:fe:00:00:01"
    assert bound["device_id"] == server["id"]
    assert _devices(api)[profile["pci_slot"]] == "allocated"
    assert _devices(api)[PF] == "unavailable"
    explained = api.get("admin", f"/v1/servers/{server['id']}/explain").json()["server"]
    assert explained["explanation"]["summary"].startswith("placed on compute-1 (")
    desired = api.get("admin", "/v1/hosts/compute-1/desired?timeout=0").json()
    assert [s["id"] for s in desired["servers"]] == [server["id"]]
    api.post("agent-c1", "/v1/hosts/compute-1/ports/status", {"up": [port["id"]]})
    running = {"servers": [{"id": server["id"], "state": "running", "xml": "<domain/>"}]}
    api.post("agent-c1", "/v1/hosts/compute-1/servers/status", running)
    shown = api.get("admin", f"{SERVERS}/{server['id']}", headers=NEW).json()["server"]
    assert shown["status"] == "ACTIVE"
    assert api.get("admin", f"/v1/servers/{server['id']}/domain").text == "<domain/>"


def test_no_valid_host_explains_why(api: Api) -> None:
    _register(api)
    network_id = make_network(api, physnet="physnet3", vlan=None, kind="flat")
    port = make_port(api, "admin", network_id, **{"binding:vnic_type": "direct"})
    server = _boot(api, [{"port": port["id"]}])
    assert server["status"] == "ERROR"
    assert "No valid host was found" in server["fault"]["message"]
    assert "physnet3" in server["fault"]["message"]
    explained = api.get("admin", f"/v1/servers/{server['id']}/explain").json()["server"]
    assert explained["explanation"]["hosts"]
    port_after = api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]
    assert (port_after["device_id"], port_after["binding:host_id"]) == ("", "")
    assert set(_devices(api).values()) == {"available"}


def test_vnic_type_extension_creates_the_port_and_delete_gives_all_back(api: Api) -> None:
    _register(api)
    network_id = make_network(api, vlan=102)
    server = _boot(api, [{"uuid": network_id, "vnic_type": "direct"}])
    assert server["status"] == "BUILD"
    ports = api.get("admin", f"/network/v2.0/ports?device_id={server['id']}").json()["ports"]
    assert [p["binding:vnic_type"] for p in ports] == ["direct"]
    assert api.delete("admin", f"{SERVERS}/{server['id']}").status_code == 204
    assert api.get("admin", f"/network/v2.0/ports/{ports[0]['id']}").status_code == 404
    assert set(_devices(api).values()) == {"available"}
    assert api.get("admin", f"{SERVERS}/{server['id']}").status_code == 404


def test_more_servers_than_vfs(api: Api) -> None:
    _register(api)
    network_id = make_network(api, vlan=103)
    states = [_boot(api, [{"uuid": network_id, "vnic_type": "direct"}])["status"]
              for _ in range(3)]  # fmt: skip
    assert sorted(states) == ["BUILD", "BUILD", "ERROR"]
    assert list(_devices(api).values()).count("allocated") == 2


def test_invalid_boot_requests_name_the_field(api: Api) -> None:
    _flavor(api)
    body = {"server": {"name": "vm", "flavorRef": _flavor_id(api), "networks": [{}]}}
    response = api.post("admin", SERVERS, body)
    assert response.status_code == 400
    assert "networks[0]" in response.json()["badRequest"]["message"]
    unknown = api.post("admin", SERVERS, {"server": {"name": "x", "flavorRef": "f", "colour": 1}})
    assert unknown.status_code == 400
    assert "server.colour" in unknown.json()["badRequest"]["message"]


def test_a_build_that_never_finishes_times_out_and_gives_everything_back(api: Api) -> None:
    from datetime import timedelta

    from vfplane.api.app import expire_stuck_builds

    _register(api)
    network_id = make_network(api, vlan=104)
    server = _boot(api, [{"uuid": network_id, "vnic_type": "direct"}])
    assert expire_stuck_builds(api.deps) == []  # not late yet
    later = api.deps.clock() + timedelta(seconds=api.deps.settings.compute.build_timeout + 1)
    api.deps.clock = lambda: later
    assert expire_stuck_builds(api.deps) == [server["id"]]
    shown = api.get("admin", f"{SERVERS}/{server['id']}", headers=NEW).json()["server"]
    assert shown["status"] == "ERROR"
    assert "Build timed out" in shown["fault"]["message"]
    assert "waiting for the domain to start" in shown["fault"]["message"]
    assert set(_devices(api).values()) == {"available"}


def test_macvtap_direct_physical_and_normal_ports_get_their_forms(api: Api) -> None:
    _register(api)
    heartbeat(api, "compute-1", agent_type="Linux bridge agent", mappings={"physnet1": ["br0"]})
    network_id = make_network(api, vlan=105)
    nets = [{"uuid": network_id, "vnic_type": kind} for kind in ("macvtap", "normal")]
    server = _boot(api, nets)
    assert server["status"] == "BUILD", server.get("fault")
    ports = api.get("admin", f"/network/v2.0/ports?device_id={server['id']}").json()["ports"]
    forms = {p["binding:vnic_type"]: p["binding:vif_type"] for p in ports}
    assert forms == {"macvtap": "hw_veb", "normal": "bridge"}
    whole_pf = _boot(api, [{"uuid": network_id, "vnic_type": "direct-physical"}])
    assert whole_pf["status"] == "ERROR"  # a VF of that PF is in use: the PF cannot be given
    assert api.delete("admin", f"{SERVERS}/{server['id']}").status_code == 204
    pf_server = _boot(api, [{"uuid": network_id, "vnic_type": "direct-physical"}])
    assert pf_server["status"] == "BUILD", pf_server.get("fault")
    (pf_port,) = api.get("admin", f"/network/v2.0/ports?device_id={pf_server['id']}").json()[
        "ports"
    ]
    assert pf_port["binding:vif_type"] == "hostdev_physical"
    assert pf_port["binding:profile"]["pci_slot"] == PF
    assert pf_port["binding:profile"]["device_mac_address"] == "3c:fd:fe:00:00:01"
    assert pf_port["mac_address"] == "3c:fd:fe:00:00:01"  # the port takes the PF's MAC
    assert set(_devices(api).values()) == {"allocated", "unavailable"}
    assert api.delete("admin", f"{SERVERS}/{pf_server['id']}").status_code == 204
    assert set(_devices(api).values()) == {"available"}


def test_a_boot_neither_binds_nor_releases_a_port_another_server_took_meanwhile(api: Api) -> None:
    """Between taking its ports and binding them, a boot may lose one to another server:
    the binding names the port and leaves the other server's port as it is."""
    _register(api)
    network_id = make_network(api, vlan=101)
    make_subnet(api, network_id)
    port = make_port(api, "admin", network_id, **{"binding:vnic_type": "direct"})
    taken = {"port": {"device_id": "other-server", "device_owner": "compute:nova"}}
    assert api.put("admin", f"/network/v2.0/ports/{port['id']}", taken).status_code == 200
    binder = boot_tools(api.deps).binder
    with api.deps.sessions() as session:
        failures = bind_ports(session, "this-server", "compute-1", {port["id"]: VFS[0]},
                              binder, api.deps.clock())  # fmt: skip
    assert failures == [f"port {port['id']} was deleted or taken by another server meanwhile"]
    mine = ServerPort(
        port["id"], network_id, "direct", "physnet1", None, False, port["mac_address"]
    )
    with api.deps.sessions() as session:  # the failed boot gives back what it holds, not this
        release_ports(session, SYSTEM, [mine], binder, api.deps.clock(), owner="this-server")
    shown = api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]
    assert (shown["device_id"], shown["binding:host_id"]) == ("other-server", "")
    assert shown["binding:profile"] == {}


def test_deleting_a_servers_port_gives_its_vf_back(api: Api) -> None:
    """As Nova does on Neutron's network-vif-deleted: the server forgets the port and its VF
    is free again; the host's desired state no longer shows the interface."""
    _register(api)
    network_id = make_network(api, vlan=101, shared=True)
    make_subnet(api, network_id)
    port = make_port(api, "demo", network_id, **{"binding:vnic_type": "direct"})
    server = _boot(api, [{"port": port["id"]}], who="demo")
    slot = api.get("admin", f"/network/v2.0/ports/{port['id']}").json()["port"]["binding:profile"][
        "pci_slot"
    ]
    assert _devices(api)[slot] == "allocated"
    assert api.delete("demo", f"/network/v2.0/ports/{port['id']}").status_code == 204
    assert _devices(api)[slot] == "available"
    desired = api.get("admin", "/v1/hosts/compute-1/desired?timeout=0").json()
    assert [s["interfaces"] for s in desired["servers"] if s["id"] == server["id"]] == [[]]
    assert api.delete("demo", f"{SERVERS}/{server['id']}").status_code == 204
    assert set(_devices(api).values()) == {"available"}
