"""Ports: MACs, fixed IPs, visibility, attribute policies, filters and fields."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import (
    PORTS,
    create_port,
    error,
    make_network,
    make_port,
    make_subnet,
    show_port,
    update_port,
)
from vfplane.db.tables import QosPolicy
from vfplane.service import ports as service
from vfplane.service.context import RequestContext

ADMIN_ONLY = ("binding:host_id", "binding:vif_type", "binding:vif_details",
              "binding:failure_reasons")  # fmt: skip


def test_create_defaults(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    port = make_port(api, "demo", network_id, name="p1", admin_state_up=True)
    assert port["status"] == "DOWN"
    assert port["mac_address"].startswith("fa:16:3e:")
    assert port["binding:vnic_type"] == "normal"
    assert port["port_security_enabled"] is True
    assert port["fixed_ips"] == []
    assert port["project_id"] == api.project_of("demo")
    assert port["device_id"] == ""
    assert port["trusted"] is None
    admin_view = show_port(api, "admin", port["id"])
    assert admin_view["binding:profile"] == {}
    assert admin_view["binding:host_id"] == ""
    assert admin_view["binding:vif_type"] == "unbound"
    assert admin_view["binding:vif_details"] == {}
    assert admin_view["binding:failure_reasons"] == []


def test_members_see_no_admin_binding_attributes(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    port = make_port(api, "demo", network_id, **{"binding:vnic_type": "direct"})
    for view in (port, show_port(api, "demo", port["id"])):
        assert view["binding:vnic_type"] == "direct"
        assert not set(ADMIN_ONLY) & set(view)
        assert view["binding:profile"] == {}  # hidden, but an object for the CLI's merge
    listed = api.get("demo", PORTS).json()["ports"][0]
    assert not set(ADMIN_ONLY) & set(listed)
    assert set(ADMIN_ONLY) <= set(api.get("agent", PORTS).json()["ports"][0])


def test_mac_prefix_comes_from_settings(api: Api) -> None:
    network = api.deps.settings.network.model_copy(update={"mac_prefix": "02:ab:cd"})
    api.deps.port_config = service.PortConfig.from_settings(network)
    network_id = make_network(api, "demo", kind=None)
    assert make_port(api, "demo", network_id)["mac_address"].startswith("02:ab:cd:")


def test_explicit_mac_is_normalized_and_unique(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    port = make_port(api, "demo", network_id, mac_address="FA:16:3E:00:00:01")
    assert port["mac_address"] == "fa:16:3e:00:00:01"
    clash = create_port(api, "demo", network_id, mac_address="fa:16:3e:00:00:01")
    assert clash.status_code == 409
    assert error(clash)["type"] == "MacAddressInUse"
    assert "fa:16:3e:00:00:01 is in use" in error(clash)["message"]


@pytest.fixture
def session(api: Api) -> Iterator[Session]:
    with api.deps.sessions() as db:
        yield db


def test_generated_mac_collision_is_retried(api: Api, session: Session) -> None:
    network_id = make_network(api, "demo", kind=None)
    taken = make_port(api, "demo", network_id)["mac_address"]
    macs = iter([taken, taken, "fa:16:3e:12:34:56"])
    config = service.PortConfig(mac_prefix="fa:16:3e", new_mac=lambda _prefix: next(macs))
    context = RequestContext(user_id="u", project_id=api.project_of("demo"),
                             roles=frozenset({"member"}))  # fmt: skip
    binder = api.deps.binding
    port = service.create_port(
        session,
        context, service.PortRequest(network_id=network_id), config, binder, datetime(2026, 1, 1),
    )  # fmt: skip
    assert port.mac_address == "fa:16:3e:12:34:56"


def test_default_fixed_ips_one_per_ip_version(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    v4 = make_subnet(api, network_id, "10.0.0.0/24", who="demo")
    make_subnet(api, network_id, "10.0.1.0/24", who="demo")
    v6 = make_subnet(api, network_id, "fd00::/64", who="demo")
    port = make_port(api, "demo", network_id)
    assert port["fixed_ips"] == [
        {"subnet_id": v4, "ip_address": "10.0.0.2"},
        {"subnet_id": v6, "ip_address": "fd00::2"},
    ]
    second = make_port(api, "demo", network_id)
    assert "10.0.0.3" in {ip["ip_address"] for ip in second["fixed_ips"]}


def test_explicit_fixed_ips_and_taken_address(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    subnet_a = make_subnet(api, network_id, "10.0.0.0/24", who="demo")
    subnet_b = make_subnet(api, network_id, "10.0.1.0/24", who="demo")
    by_subnet = make_port(api, "demo", network_id, fixed_ips=[{"subnet_id": subnet_b}])
    assert by_subnet["fixed_ips"] == [{"subnet_id": subnet_b, "ip_address": "10.0.1.2"}]
    by_address = make_port(api, "demo", network_id, fixed_ips=[{"ip_address": "10.0.0.50"}])
    assert by_address["fixed_ips"] == [{"subnet_id": subnet_a, "ip_address": "10.0.0.50"}]
    taken = create_port(api, "demo", network_id, fixed_ips=[{"ip_address": "10.0.0.50"}])
    assert taken.status_code == 409
    assert error(taken)["type"] == "IpAddressAlreadyAllocated"
    outside = create_port(api, "demo", network_id, fixed_ips=[{"ip_address": "192.168.0.5"}])
    assert outside.status_code == 400
    assert "fixed_ips" in error(outside)["message"]


def test_deleting_a_port_releases_its_addresses(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    make_subnet(api, network_id, "10.0.0.0/24", who="demo")
    port = make_port(api, "demo", network_id, fixed_ips=[{"ip_address": "10.0.0.9"}])
    assert api.delete("demo", f"{PORTS}/{port['id']}").status_code == 204
    assert api.get("demo", f"{PORTS}/{port['id']}").status_code == 404
    make_port(api, "demo", network_id, fixed_ips=[{"ip_address": "10.0.0.9"}])


def test_update_replaces_fixed_ips(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    make_subnet(api, network_id, "10.0.0.0/24", who="demo")
    port = make_port(api, "demo", network_id)
    response = update_port(api, "demo", port["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])
    assert response.status_code == 200, response.text
    assert [i["ip_address"] for i in response.json()["port"]["fixed_ips"]] == ["10.0.0.77"]
    make_port(
        api, "demo", network_id, fixed_ips=[{"ip_address": port["fixed_ips"][0]["ip_address"]}]
    )


def test_update_plain_attributes(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    port = make_port(api, "demo", network_id)
    changes = {"name": "renamed", "admin_state_up": False, "device_id": "vm-1",
               "device_owner": "compute:nova", "port_security_enabled": False,
               "propagate_uplink_status": True, "description": "d"}  # fmt: skip
    updated = update_port(api, "demo", port["id"], **changes).json()["port"]
    assert {k: updated[k] for k in changes} == changes
    assert updated["revision_number"] == port["revision_number"] + 1
    read_only = update_port(api, "demo", port["id"], network_id=network_id)
    assert read_only.status_code == 400
    assert "network_id" in error(read_only)["message"]


def _qos_policy(api: Api, who: str, shared: bool = False) -> str:
    policy_id = str(uuid.uuid4())
    now = datetime(2026, 1, 1)
    with api.deps.sessions() as db:
        db.add(QosPolicy(id=policy_id, project_id=api.project_of(who), name="q", shared=shared,
                         created_at=now, updated_at=now))  # fmt: skip
        db.commit()
    return policy_id


def test_qos_policy_must_be_visible(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    own = _qos_policy(api, "demo")
    assert make_port(api, "demo", network_id, qos_policy_id=own)["qos_policy_id"] == own
    shared = _qos_policy(api, "other", shared=True)
    assert make_port(api, "demo", network_id, qos_policy_id=shared)["qos_policy_id"] == shared
    foreign = _qos_policy(api, "other")
    for policy in (foreign, str(uuid.uuid4())):
        response = create_port(api, "demo", network_id, qos_policy_id=policy)
        assert response.status_code == 404
        assert error(response)["type"] == "QosPolicyNotFound"
    port = make_port(api, "demo", network_id)
    assert update_port(api, "demo", port["id"], qos_policy_id=foreign).status_code == 404
    assert update_port(api, "demo", port["id"], qos_policy_id=None).status_code == 200


def test_trusted_is_for_admins_and_services(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    denied = create_port(api, "demo", network_id, trusted=True)
    assert denied.status_code == 403
    assert error(denied)["type"] == "PolicyNotAuthorized"
    port = make_port(api, "demo", network_id)
    assert update_port(api, "demo", port["id"], trusted=True).status_code == 403
    assert update_port(api, "agent", port["id"], trusted=True).json()["port"]["trusted"] is True
    owned = make_port(api, "admin", network_id, trusted=False, project_id=api.project_of("demo"))
    assert owned["trusted"] is False


def test_other_projects_ports_and_networks_are_invisible(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    port = make_port(api, "demo", network_id)
    path = f"{PORTS}/{port['id']}"
    assert api.get("other", path).status_code == 404
    assert update_port(api, "other", port["id"], name="x").status_code == 404
    assert api.delete("other", path).status_code == 404
    assert api.get("other", PORTS).json()["ports"] == []
    denied = create_port(api, "other", network_id)
    assert denied.status_code == 404
    assert error(denied)["type"] == "NetworkNotFound"
    assert {p["id"] for p in api.get("admin", PORTS).json()["ports"]} == {port["id"]}


def test_shared_network_accepts_other_projects_ports(api: Api) -> None:
    network_id = make_network(api, "admin", shared=True)
    port = make_port(api, "other", network_id)
    assert port["project_id"] == api.project_of("other")
    denied = create_port(api, "other", network_id, mac_address="fa:16:3e:aa:bb:cc")
    assert denied.status_code == 403


def test_readers_cannot_write(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    assert create_port(api, "reader", network_id).status_code == 403
    port = make_port(api, "demo", network_id)
    assert show_port(api, "reader", port["id"])["id"] == port["id"]
    assert update_port(api, "reader", port["id"], name="x").status_code == 403
    assert api.delete("reader", f"{PORTS}/{port['id']}").status_code == 403


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"binding:vnic_type": "bogus"}, "binding:vnic_type"),
        ({"binding:profile": ["a"]}, "binding:profile"),
        ({"binding:profile": {"k": "x" * 4100}}, "binding:profile"),
        ({"binding:vif_type": "hw_veb"}, "binding:vif_type"),
        ({"binding:vif_details": {}}, "binding:vif_details"),
        ({"mac_address": "zz:16:3e:00:00:01"}, "mac_address"),
        ({"mac_address": "01:00:5e:00:00:01"}, "mac_address"),
        ({"admin_state_up": "maybe"}, "admin_state_up"),
        ({"fixed_ips": "10.0.0.1"}, "fixed_ips"),
        ({"fixed_ips": [{}]}, "fixed_ips"),
        ({"name": "n" * 256}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_create_bodies_name_the_field(
    api: Api, attrs: dict[str, object], field: str
) -> None:
    network_id = make_network(api, "admin", kind=None)
    make_subnet(api, network_id)
    response = create_port(api, "admin", network_id, **attrs)
    assert response.status_code == 400, response.text
    assert field in error(response)["message"]


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"binding:vnic_type": None}, "binding:vnic_type"),
        ({"binding:profile": "x"}, "binding:profile"),
        ({"binding:vif_type": "hw_veb"}, "binding:vif_type"),
        ({"admin_state_up": None}, "admin_state_up"),
        ({"mac_address": "fa:16:3e:00:00:09"}, "mac_address"),
    ],
)
def test_invalid_update_bodies_name_the_field(
    api: Api, attrs: dict[str, object], field: str
) -> None:
    network_id = make_network(api, "admin", kind=None)
    port = make_port(api, "admin", network_id)
    response = update_port(api, "admin", port["id"], **attrs)
    assert response.status_code == 400, response.text
    assert field in error(response)["message"]


def test_missing_network_id_is_400(api: Api) -> None:
    response = api.post("demo", PORTS, {"port": {"name": "x"}})
    assert response.status_code == 400
    assert "network_id" in error(response)["message"]


def test_profile_length_limit_is_4095_json_characters(api: Api) -> None:
    network_id = make_network(api, "admin", kind=None)
    fits = {"k": "x" * (4095 - len(json.dumps({"k": ""})))}
    assert (
        make_port(api, "admin", network_id, **{"binding:profile": fits})["binding:profile"] == fits
    )
    too_long = {"k": fits["k"] + "x"}
    assert create_port(api, "admin", network_id, **{"binding:profile": too_long}).status_code == 400


def test_filters_and_fields(api: Api) -> None:
    net_a = make_network(api, "admin", kind=None)
    net_b = make_network(api, "admin", vlan=101)
    a = make_port(api, "admin", net_a, device_id="vm-1", name="a")
    b = make_port(api, "admin", net_b, device_id="vm-2", name="b",
                  **{"binding:host_id": "compute-9"})  # fmt: skip

    def ids(query: str) -> list[str]:
        return [p["id"] for p in api.get("admin", f"{PORTS}?{query}").json()["ports"]]

    assert ids(f"network_id={net_a}") == [a["id"]]
    assert ids("device_id=vm-2") == [b["id"]]
    assert ids("binding%3Ahost_id=compute-9") == [b["id"]]
    assert ids("name=a") == [a["id"]]
    assert sorted(ids(f"network_id={net_a}&network_id={net_b}")) == sorted([a["id"], b["id"]])
    listed = api.get("admin", f"{PORTS}?fields=id&fields=name&fields=mac_address").json()
    assert all(set(p) == {"id", "name", "mac_address"} for p in listed["ports"])
    shown = api.get("admin", f"{PORTS}/{a['id']}?fields=status").json()
    assert shown == {"port": {"status": "DOWN"}}
