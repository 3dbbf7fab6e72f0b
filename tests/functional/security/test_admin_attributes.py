"""Attributes that steer a port onto a host and a device are for admins and services only.

``binding:host_id`` and ``binding:profile`` (Neutron's admin-only binding attributes) and
``trusted`` (a trusted VF may change its MAC and enter promiscuous mode) are refused with 403
naming the attribute for members, on create and on update, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import NETS, PORTS, make_network, make_subnet

PRIVILEGED = [
    ("binding:host_id", "compute-1"),
    ("binding:profile", {"pci_slot": "0000:3b:02.0"}),
    ("binding:profile", {}),
    ("trusted", True),
    ("trusted", False),
]
UNSET = {"binding:host_id": "", "binding:profile": {}, "trusted": None}


def _own_network(api: Api) -> str:
    response = api.post("demo", NETS, {"network": {"name": "mine"}})
    assert response.status_code == 201, response.text
    network_id = str(response.json()["network"]["id"])
    make_subnet(api, network_id, who="demo")
    return network_id


def _refused(response: Any, attribute: str) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["NeutronError"]
    assert error["type"] == "PolicyNotAuthorized"
    assert attribute in error["message"]


@pytest.mark.parametrize(("attribute", "value"), PRIVILEGED)
def test_members_cannot_create_ports_with_admin_attributes(
    api: Api, attribute: str, value: Any
) -> None:
    network_id = _own_network(api)
    response = api.post("demo", PORTS, {"port": {"network_id": network_id, attribute: value}})
    _refused(response, attribute)
    assert api.get("admin", f"{PORTS}?network_id={network_id}").json()["ports"] == []


@pytest.mark.parametrize(("attribute", "value"), PRIVILEGED)
def test_members_cannot_update_admin_attributes(api: Api, attribute: str, value: Any) -> None:
    network_id = _own_network(api)
    port = api.post("demo", PORTS, {"port": {"network_id": network_id}}).json()["port"]
    response = api.put("demo", f"{PORTS}/{port['id']}", {"port": {attribute: value}})
    _refused(response, attribute)
    stored = api.get("admin", f"{PORTS}/{port['id']}").json()["port"]
    assert stored[attribute] == UNSET[attribute]
    assert stored["revision_number"] == port["revision_number"]


def test_members_cannot_clear_a_binding_either(api: Api) -> None:
    network_id = _own_network(api)
    body = {"port": {"network_id": network_id, "binding:host_id": "compute-1"}}
    port = api.post("admin", PORTS, {"port": {**body["port"], "project_id": _demo(api)}})
    assert port.status_code == 201, port.text
    port_id = port.json()["port"]["id"]
    clear = api.put("demo", f"{PORTS}/{port_id}", {"port": {"binding:host_id": None}})
    _refused(clear, "binding:host_id")
    assert api.get("admin", f"{PORTS}/{port_id}").json()["port"]["binding:host_id"] == "compute-1"


def _demo(api: Api) -> str:
    return api.project_of("demo")


@pytest.mark.parametrize("who", ["admin", "agent"])
def test_admins_and_services_may_set_them(api: Api, who: str) -> None:
    network_id = make_network(api, kind=None)
    make_subnet(api, network_id)
    attributes = {"binding:host_id": "compute-9", "binding:profile": {"x": "y"}, "trusted": True}
    response = api.post(who, PORTS, {"port": {"network_id": network_id, **attributes}})
    assert response.status_code == 201, response.text
    port = api.get("admin", f"{PORTS}/{response.json()['port']['id']}").json()["port"]
    assert {k: port[k] for k in attributes} == attributes
    update = {"binding:host_id": "", "binding:profile": {}, "trusted": False}
    changed = api.put(who, f"{PORTS}/{port['id']}", {"port": update})
    assert changed.status_code == 200, changed.text
    port = api.get("admin", f"{PORTS}/{port['id']}").json()["port"]
    assert {k: port[k] for k in update} == update


def test_members_do_not_read_binding_details(api: Api) -> None:
    network_id = _own_network(api)
    body = {"network_id": network_id, "binding:host_id": "compute-1",
            "binding:profile": {"pci_slot": "0000:3b:02.0"}, "project_id": _demo(api)}  # fmt: skip
    port_id = api.post("admin", PORTS, {"port": body}).json()["port"]["id"]
    seen = api.get("demo", f"{PORTS}/{port_id}").json()["port"]
    assert "binding:host_id" not in seen
    assert seen["binding:profile"] == {}
    assert "0000:3b:02.0" not in api.get("demo", PORTS).text
