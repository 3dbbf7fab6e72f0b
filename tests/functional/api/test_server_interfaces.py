"""``os-interface``: attach and detach SR-IOV ports on a server's own host; NUMA flavors."""

from __future__ import annotations

from typing import Any

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import make_port
from tests.functional.api.test_server_lifecycle import (
    NEW,
    SERVERS,
    VFS1,
    _action,
    _actions,
    _agent_pass,
    _boot,
    _desired,
    _devices,
    _flavor,
    _network,
    _register,
    _show,
)


def _interfaces(api: Api, server_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get("demo", f"{SERVERS}/{server_id}/os-interface"
                                          ).json()["interfaceAttachments"]  # fmt: skip
    return found


def _attach(api: Api, server_id: str, **attachment: Any) -> Any:
    body = {"interfaceAttachment": attachment}
    return api.post("demo", f"{SERVERS}/{server_id}/os-interface", body, headers=NEW)


def _port(api: Api, port_id: str) -> dict[str, Any]:
    port: dict[str, Any] = api.get("admin", f"/network/v2.0/ports/{port_id}").json()["port"]
    return port


def test_attach_a_direct_port_claims_a_vf_on_the_same_host(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    server_id = _boot(api, network_id)
    port = make_port(api, "demo", network_id, **{"binding:vnic_type": "direct"})
    response = _attach(api, server_id, port_id=port["id"])
    assert response.status_code == 200, response.text
    attachment = response.json()["interfaceAttachment"]
    assert (attachment["port_id"], attachment["net_id"]) == (port["id"], network_id)
    bound = _port(api, port["id"])
    assert bound["binding:host_id"] == "compute-1"
    assert bound["device_id"] == server_id
    assert bound["binding:vif_type"] == "hw_veb"
    assert _devices(api)[bound["binding:profile"]["pci_slot"]] == "allocated"
    assert port["id"] in [i["port_id"] for i in _desired(api)[server_id]["interfaces"]]
    assert [a["action"] for a in _actions(api, server_id)][-1] == "attach_interface"
    _agent_pass(api, message="interfaces changed by restarting the domain: +" + port["id"])
    assert len(_interfaces(api, server_id)) == 2
    attach = next(a for a in _actions(api, server_id) if a["action"] == "attach_interface")
    assert "restarting the domain" in attach["message"]


def test_attach_without_a_free_vf_explains_and_leaks_nothing(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    server_id = _boot(api, network_id)
    for _ in range(2):  # the other two VFs of compute-1
        extra = make_port(api, "demo", network_id, **{"binding:vnic_type": "direct"})
        assert _attach(api, server_id, port_id=extra["id"]).status_code == 200
    before = _devices(api)
    port = make_port(api, "demo", network_id, **{"binding:vnic_type": "direct"})
    response = _attach(api, server_id, port_id=port["id"])
    assert response.status_code == 409
    assert "No device for the port on host compute-1" in response.text
    assert "free VF" in response.text or "physnet1" in response.text
    assert _devices(api) == before
    unbound = _port(api, port["id"])
    assert (unbound["binding:host_id"], unbound["device_id"]) == ("", "")
    assert "pci_slot" not in unbound["binding:profile"]
    created = _attach(api, server_id, net_id=network_id, vnic_type="direct")
    assert created.status_code == 409
    ports = api.get("admin", f"/network/v2.0/ports?network_id={network_id}").json()["ports"]
    assert len(ports) == 4  # the boot's, two attached and the refused one: none created


def test_detach_waits_for_the_domain_then_gives_the_vf_back(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    server_id = _boot(api, network_id)
    attached = _attach(api, server_id, net_id=network_id, vnic_type="direct").json()
    port_id = attached["interfaceAttachment"]["port_id"]
    _agent_pass(api)
    slot = _port(api, port_id)["binding:profile"]["pci_slot"]
    response = api.delete("demo", f"{SERVERS}/{server_id}/os-interface/{port_id}", headers=NEW)
    assert response.status_code == 202
    assert port_id not in [i["port_id"] for i in _desired(api)[server_id]["interfaces"]]
    assert _devices(api)[slot] == "allocated"  # the guest may still hold it
    _agent_pass(api)
    assert _devices(api)[slot] == "available"
    assert api.get("admin", f"/network/v2.0/ports/{port_id}").status_code == 404  # created: gone
    assert [i["port_id"] for i in _interfaces(api, server_id)] != [port_id]
    assert len(_interfaces(api, server_id)) == 1
    missing = api.delete("demo", f"{SERVERS}/{server_id}/os-interface/{port_id}", headers=NEW)
    assert missing.status_code == 404


def test_detach_from_a_stopped_server_is_immediate_and_keeps_a_users_port(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    server_id = _boot(api, network_id)
    port = make_port(api, "demo", network_id, **{"binding:vnic_type": "direct"})
    _attach(api, server_id, port_id=port["id"])
    _agent_pass(api)
    _action(api, server_id, {"os-stop": None})
    _agent_pass(api)
    assert _show(api, server_id)["status"] == "SHUTOFF"
    response = api.delete("demo", f"{SERVERS}/{server_id}/os-interface/{port['id']}", headers=NEW)
    assert response.status_code == 202
    kept = _port(api, port["id"])
    assert (kept["binding:host_id"], kept["device_id"]) == ("", "")
    assert list(_devices(api).values()).count("allocated") == 1


def test_a_numa_flavor_binds_the_guest_to_the_cell_of_its_vf(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    for _ in range(2):  # fill node 0's VFs
        _boot(api, network_id)
    flavor_id = _flavor(api, {"hw:numa_nodes": "1", "hw:pci_numa_affinity_policy": "required"})
    server_id = _boot(api, network_id, flavor_id)
    wanted = _desired(api)[server_id]
    assert wanted["numa_nodes"] == [1]
    assert wanted["interfaces"][0]["pci_slot"] == VFS1[0]
    assert "<numatune>" in api.get("admin", f"/v1/servers/{server_id}/domain").text
    body = {"server": {"name": "big", "flavorRef": _flavor(api, {"hw:numa_nodes": "3"}, 4),
                       "networks": "none"}}  # fmt: skip
    response = api.post("demo", SERVERS, body, headers=NEW)
    failed = _show(api, response.json()["server"]["id"])
    assert failed["status"] == "ERROR"
    assert "NUMA" in failed["fault"]["message"]


def test_numa_extra_specs_are_checked(api: Api) -> None:
    flavor_id = _flavor(api)
    for bad in ("0", "two", "-1"):
        response = api.post("admin", f"/compute/v2.1/flavors/{flavor_id}/os-extra_specs",
                            {"extra_specs": {"hw:numa_nodes": bad}})  # fmt: skip
        assert response.status_code == 400
        assert "hw:numa_nodes" in response.text


def test_more_guest_numa_nodes_than_vcpus_is_refused_and_leaks_no_port(api: Api) -> None:
    _register(api)
    network_id = _network(api)
    body = {"server": {"name": "odd", "flavorRef": _flavor(api, {"hw:numa_nodes": "3"}, 2),
                       "networks": [{"uuid": network_id, "vnic_type": "direct"}]}}  # fmt: skip
    response = api.post("demo", SERVERS, body, headers=NEW)
    assert response.status_code == 400
    assert "hw:numa_nodes 3 asks for more guest NUMA nodes than the flavor has vCPUs" in (
        response.text
    )
    ports = api.get("admin", f"/network/v2.0/ports?network_id={network_id}").json()["ports"]
    assert ports == []
