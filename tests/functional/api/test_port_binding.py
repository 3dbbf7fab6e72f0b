"""Port binding through the ports API: policies, drivers, failures, rebinding, extended bindings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import (
    LINUX_BRIDGE,
    PORTS,
    create_port,
    error,
    heartbeat,
    make_network,
    make_port,
    show_port,
    update_port,
)
from vfplane.domain.binding import BindingOutcome, DriverVerdict, PortContext
from vfplane.service import port_bindings
from vfplane.service import ports as service

HOST = "compute-1"


def _bound(api: Api, vnic: str = "direct", who: str = "admin", **net: Any) -> dict[str, Any]:
    network_id = make_network(api, "admin", shared=True, **net)
    port = make_port(api, "demo", network_id, **{"binding:vnic_type": vnic})
    response = update_port(api, who, port["id"], **{"binding:host_id": HOST})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["port"]
    return result


def _reasons(port: dict[str, Any]) -> dict[str, str]:
    return {r["driver"]: r["reason"] for r in port["binding:failure_reasons"]}


def test_members_cannot_set_host_or_profile(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    for attrs in ({"binding:host_id": HOST}, {"binding:profile": {"pci_slot": "0000:3b:02.0"}}):
        created = create_port(api, "demo", network_id, **attrs)
        assert created.status_code == 403
        assert error(created)["type"] == "PolicyNotAuthorized"
        port = make_port(api, "demo", network_id)
        assert update_port(api, "demo", port["id"], **attrs).status_code == 403


def test_sriovnicswitch_binds_direct_port(api: Api) -> None:
    assert heartbeat(api).status_code == 200
    port = _bound(api, who="agent")
    assert port["binding:vif_type"] == "hw_veb"
    assert port["binding:vif_details"] == {
        "port_filter": False,
        "connectivity": "l2",
        "vlan": "100",
        "bound_drivers": {"0": "sriovnicswitch"},
    }
    assert port["binding:failure_reasons"] == []
    assert port["status"] == "DOWN"
    member_view = show_port(api, "demo", port["id"])
    assert "binding:vif_type" not in member_view


def test_macvtap_and_flat_network(api: Api) -> None:
    heartbeat(api, mappings={"physnet3": ["ens2f0"]})
    port = _bound(api, "macvtap", kind="flat", physnet="physnet3", vlan=None)
    assert port["binding:vif_type"] == "hw_veb"
    assert port["binding:vif_details"]["vlan"] == "0"


def test_direct_physical_needs_no_agent_and_is_active(api: Api) -> None:
    port = _bound(api, "direct-physical")
    assert port["binding:vif_type"] == "hostdev_physical"
    assert port["status"] == "ACTIVE"


def test_linuxbridge_binds_normal_port(api: Api) -> None:
    heartbeat(api, agent_type=LINUX_BRIDGE)
    port = _bound(api, "normal")
    assert port["binding:vif_type"] == "bridge"
    assert port["binding:vif_details"] == {
        "port_filter": True,
        "connectivity": "l2",
        "bound_drivers": {"0": "linuxbridge"},
    }


def test_binding_failed_records_every_drivers_reason(api: Api) -> None:
    port = _bound(api, "direct")
    assert port["binding:vif_type"] == "binding_failed"
    assert port["status"] == "DOWN"
    reasons = _reasons(port)
    assert list(reasons) == ["sriovnicswitch", "linuxbridge", "qbh"]
    assert reasons["sriovnicswitch"].startswith(f"no alive NIC Switch agent on host {HOST}")
    assert reasons["linuxbridge"] == "vnic_type direct is not handled by linuxbridge"
    assert reasons["qbh"].startswith("no profileid")


def test_physnet_missing_from_device_mappings(api: Api) -> None:
    heartbeat(api, mappings={"physnet2": ["ens1f1"]})
    reasons = _reasons(_bound(api))
    assert reasons["sriovnicswitch"] == (
        f"physnet physnet1 is not in the device_mappings of the agent on {HOST} (physnet2)"
    )


def test_dead_agent_refuses_and_failed_binding_retries_on_update(api: Api) -> None:
    start = api.deps.clock()
    api.deps.clock = lambda: start
    heartbeat(api)
    api.deps.clock = lambda: start + timedelta(seconds=76)
    port = _bound(api)
    assert port["binding:vif_type"] == "binding_failed"
    assert "last heartbeat 76 s ago, agent_down_time 75 s" in _reasons(port)["sriovnicswitch"]
    heartbeat(api)
    retried = update_port(api, "demo", port["id"], name="again").json()["port"]
    assert show_port(api, "admin", retried["id"])["binding:vif_type"] == "hw_veb"


def test_profile_change_rebinds_to_qbh(api: Api) -> None:
    heartbeat(api)
    port = _bound(api)
    assert port["binding:vif_type"] == "hw_veb"
    profile = {"profileid": "vmfex-100"}
    rebound = update_port(api, "admin", port["id"], **{"binding:profile": profile}).json()["port"]
    assert rebound["binding:vif_type"] == "802.1qbh"
    assert rebound["binding:vif_details"] == {
        "profileid": "vmfex-100",
        "port_filter": False,
        "connectivity": "l2",
        "bound_drivers": {"0": "qbh"},
    }
    assert _reasons(rebound) == {}


def test_network_port_profile_goes_to_qbh(api: Api) -> None:
    heartbeat(api)
    port = _bound(api, **{"vfplane:port_profile": "pp-net"})
    assert port["binding:vif_type"] == "802.1qbh"
    assert port["binding:vif_details"]["profileid"] == "pp-net"


def test_vnic_type_change_on_bound_port_is_409(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    port = make_port(api, "demo", network_id)
    changed = update_port(api, "demo", port["id"], **{"binding:vnic_type": "macvtap"})
    assert changed.json()["port"]["binding:vnic_type"] == "macvtap"
    update_port(api, "admin", port["id"], **{"binding:host_id": HOST})
    refused = update_port(api, "demo", port["id"], **{"binding:vnic_type": "direct"})
    assert refused.status_code == 409
    assert f"bound to host {HOST}" in error(refused)["message"]
    same = update_port(api, "demo", port["id"], **{"binding:vnic_type": "macvtap"})
    assert same.status_code == 200


def test_unbinding_resets_the_binding(api: Api) -> None:
    port = _bound(api, "direct-physical")
    unbound = update_port(api, "admin", port["id"], **{"binding:host_id": ""}).json()["port"]
    assert unbound["binding:host_id"] == ""
    assert unbound["binding:vif_type"] == "unbound"
    assert unbound["binding:vif_details"] == {}
    assert unbound["status"] == "DOWN"


def test_null_profile_means_empty(api: Api) -> None:
    network_id = make_network(api, "admin", kind=None)
    port = make_port(api, "admin", network_id, **{"binding:profile": {"a": 1}})
    cleared = update_port(api, "admin", port["id"], **{"binding:profile": None}).json()["port"]
    assert cleared["binding:profile"] == {}
    assert make_port(api, "admin", network_id, **{"binding:profile": None})["binding:profile"] == {}


def test_binding_at_create(api: Api) -> None:
    heartbeat(api)
    network_id = make_network(api, "admin")
    attrs = {"binding:vnic_type": "direct", "binding:host_id": HOST,
             "binding:profile": {"pci_slot": "0000:3b:02.0"}}  # fmt: skip
    port = make_port(api, "agent", network_id, **attrs)
    assert port["binding:vif_type"] == "hw_veb"
    assert port["binding:profile"] == {"pci_slot": "0000:3b:02.0"}


class _RacingBinder:
    """Changes the port's profile while the first bind runs, as a concurrent request would."""

    def __init__(self, api: Api, port_id: str) -> None:
        self.api = api
        self.port_id = port_id
        self.seen: list[dict[str, Any]] = []
        self.inner = api.deps.binding

    @property
    def agent_down_time(self) -> int:
        return self.inner.agent_down_time

    def bind(self, context: PortContext) -> BindingOutcome:
        self.seen.append(dict(context.profile))
        if len(self.seen) == 1:
            with self.api.deps.sessions() as other:
                binding = other.get_one(service.Port, self.port_id).bindings[0]
                binding.profile = {"profileid": "x"}
                other.commit()
        return self.inner.bind(context)

    def evaluate(self, context: PortContext) -> list[DriverVerdict]:
        return self.inner.evaluate(context)


def test_binding_commits_only_if_inputs_are_unchanged(api: Api) -> None:
    heartbeat(api)
    network_id = make_network(api, "admin")
    port = make_port(api, "admin", network_id, **{"binding:vnic_type": "direct"})
    binder = _RacingBinder(api, port["id"])
    with api.deps.sessions() as session:
        binding = session.get_one(service.Port, port["id"]).bindings[0]
        binding.host = HOST
        session.commit()
        port_bindings.bind_port_if_needed(session, port["id"], binder, api.deps.clock())
    assert binder.seen == [{}, {"profileid": "x"}]
    assert show_port(api, "admin", port["id"])["binding:vif_type"] == "802.1qbh"


# --- extended bindings ------------------------------------------------------


def _bindings(port_id: str) -> str:
    return f"{PORTS}/{port_id}/bindings"


def test_extended_bindings_lifecycle(api: Api) -> None:
    heartbeat(api)
    heartbeat(api, host="compute-2")
    port = _bound(api)
    path = _bindings(port["id"])
    created = api.post("agent", path, {"binding": {"host": "compute-2"}})
    assert created.status_code == 201, created.text
    assert created.json()["binding"]["status"] == "INACTIVE"
    assert created.json()["binding"]["vif_type"] == "hw_veb"
    assert created.json()["binding"]["vnic_type"] == "direct"
    listed = {b["host"]: b["status"] for b in api.get("admin", path).json()["bindings"]}
    assert listed == {HOST: "ACTIVE", "compute-2": "INACTIVE"}
    assert api.post("agent", path, {"binding": {"host": "compute-2"}}).status_code == 409
    activated = api.put("agent", f"{path}/compute-2/activate")
    assert activated.status_code == 200
    assert activated.json()["binding"]["status"] == "ACTIVE"
    assert show_port(api, "admin", port["id"])["binding:host_id"] == "compute-2"
    assert api.put("agent", f"{path}/compute-2/activate").status_code == 409
    assert api.delete("agent", f"{path}/compute-2").status_code == 409
    assert api.delete("agent", f"{path}/{HOST}").status_code == 204
    assert api.delete("agent", f"{path}/{HOST}").status_code == 404
    assert [b["host"] for b in api.get("admin", path).json()["bindings"]] == ["compute-2"]


def test_failed_extended_binding_is_not_stored(api: Api) -> None:
    heartbeat(api)
    port = _bound(api)
    path = _bindings(port["id"])
    failed = api.post("admin", path, {"binding": {"host": "compute-7"}})
    assert failed.status_code == 409
    assert error(failed)["type"] == "PortBindingError"
    assert "no alive NIC Switch agent on host compute-7" in error(failed)["message"]
    assert [b["host"] for b in api.get("admin", path).json()["bindings"]] == [HOST]


def test_activating_from_unbound_drops_the_empty_binding(api: Api) -> None:
    network_id = make_network(api, "admin")
    port = make_port(api, "admin", network_id, **{"binding:vnic_type": "direct-physical"})
    path = _bindings(port["id"])
    assert api.post("admin", path, {"binding": {"host": HOST}}).status_code == 201
    assert api.put("admin", f"{path}/{HOST}/activate").status_code == 200
    shown = show_port(api, "admin", port["id"])
    assert shown["binding:host_id"] == HOST
    assert shown["status"] == "ACTIVE"
    assert [b["status"] for b in api.get("admin", path).json()["bindings"]] == ["ACTIVE"]


def test_extended_bindings_are_for_admins_and_services(api: Api) -> None:
    network_id = make_network(api, "demo", kind=None)
    port = make_port(api, "demo", network_id)
    path = _bindings(port["id"])
    assert api.get("demo", path).status_code == 403
    assert api.post("demo", path, {"binding": {"host": HOST}}).status_code == 403
    assert api.get("admin", _bindings("nope")).status_code == 404
    assert api.put("admin", f"{path}/nowhere/activate").status_code == 404
    bad = api.post("admin", path, {"binding": {"host": HOST, "vnic_type": "bogus"}})
    assert bad.status_code == 400
    assert "binding.vnic_type" in error(bad)["message"]
