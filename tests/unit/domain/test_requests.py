"""PCI requests from flavors and ports follow Nova's grammar and spec rules."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from vfplane.domain.alias import Alias, NumaPolicy, parse_aliases
from vfplane.domain.networks import VnicType
from vfplane.domain.requests import (
    flavor_numa_policy,
    flavor_requests,
    parse_alias_extra_spec,
    port_request,
)
from vfplane.errors import InvalidInput

ALIASES = parse_aliases(
    [
        {"name": "nic", "vendor_id": "8086", "product_id": "154C", "device_type": "type-VF"},
        {"name": "nic", "vendor_id": "15b3", "product_id": "101e", "device_type": "type-VF"},
        {"name": "qat", "vendor_id": "8086", "product_id": "0443", "numa_policy": "required"},
    ]
)


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"req-{next(counter)}"


def names(pairs: list[tuple[Alias, int]]) -> list[tuple[str, int]]:
    return [(alias.name, count) for alias, count in pairs]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nic:1", [("nic", 1)]),
        ("nic:2, qat:1", [("nic", 2), ("qat", 1)]),
        (" nic :3,qat:1", [("nic", 3), ("qat", 1)]),
        ("nic:1 ,  nic:1", [("nic", 1), ("nic", 1)]),
    ],
)
def test_alias_extra_spec_grammar(value: str, expected: list[tuple[str, int]]) -> None:
    assert names(parse_alias_extra_spec(value, ALIASES)) == expected


@pytest.mark.parametrize("value", ["nic", "nic:", "nic:x", ":1", "nic:1,", "nic:1;qat:1", ""])
def test_malformed_alias_extra_spec_is_refused_with_the_grammar(value: str) -> None:
    with pytest.raises(InvalidInput, match=r"comma-separated list of <alias>:<count>"):
        parse_alias_extra_spec(value, ALIASES)


def test_unknown_alias_is_named_with_the_defined_ones() -> None:
    with pytest.raises(
        InvalidInput, match=r"PCI alias 'gpu' .* not defined \(defined aliases: nic, qat\)"
    ):
        parse_alias_extra_spec("nic:1, gpu:1", ALIASES)


def test_zero_devices_is_refused_naming_the_alias() -> None:
    with pytest.raises(InvalidInput, match=r"PCI alias 'qat'.*at least 1"):
        parse_alias_extra_spec("qat:0", ALIASES)


def test_errors_are_api_errors_with_status_400() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_alias_extra_spec("bogus", ALIASES)
    assert info.value.status == 400


def test_flavor_requests_one_per_alias_entry_with_the_alias_specs() -> None:
    requests = flavor_requests({"pci_passthrough:alias": "nic:2, qat:1"}, ALIASES, ids())
    assert [(r.request_id, r.alias_name, r.count) for r in requests] == [
        ("req-1", "nic", 2),
        ("req-2", "qat", 1),
    ]
    nic = requests[0]
    assert [dict(spec) for spec in nic.specs] == [
        {"vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF"},
        {"vendor_id": "15b3", "product_id": "101e", "dev_type": "type-VF"},
    ]
    assert nic.requester_id is None
    assert not nic.is_port_request


def test_flavor_request_policy_is_the_alias_policy_or_legacy() -> None:
    requests = flavor_requests({"pci_passthrough:alias": "nic:1, qat:1"}, ALIASES, ids())
    assert [r.numa_policy for r in requests] == [NumaPolicy.LEGACY, NumaPolicy.REQUIRED]


def test_flavor_policy_beats_alias_policy() -> None:
    specs = {"pci_passthrough:alias": "qat:1", "hw:pci_numa_affinity_policy": "preferred"}
    (request,) = flavor_requests(specs, ALIASES, ids())
    assert request.numa_policy is NumaPolicy.PREFERRED


def test_flavor_without_alias_has_no_requests() -> None:
    assert flavor_requests({"hw:pci_numa_affinity_policy": "socket"}, ALIASES, ids()) == []


def test_bad_flavor_numa_policy_lists_the_choices() -> None:
    with pytest.raises(InvalidInput, match="'nearby' is not one of required, legacy"):
        flavor_numa_policy({"hw:pci_numa_affinity_policy": "nearby"})
    assert flavor_numa_policy({}) is None
    assert flavor_numa_policy({"hw:pci_numa_affinity_policy": "Socket"}) is NumaPolicy.SOCKET


def test_request_specs_are_read_only() -> None:
    (request,) = flavor_requests({"pci_passthrough:alias": "qat:1"}, ALIASES, ids())
    with pytest.raises(TypeError):
        request.specs[0]["vendor_id"] = "dead"  # type: ignore[index]


def test_direct_port_asks_for_a_non_remote_managed_device_on_its_physnet() -> None:
    request = port_request("port-1", VnicType.DIRECT, "physnet1", None, None, ids())
    assert request is not None
    assert [dict(spec) for spec in request.specs] == [
        {"physical_network": "physnet1", "remote_managed": "False"}
    ]
    assert (request.count, request.requester_id, request.alias_name) == (1, "port-1", None)
    assert request.is_port_request
    assert request.numa_policy is None


def test_direct_physical_port_asks_for_a_pf() -> None:
    request = port_request("port-1", "direct-physical", "physnet1", None, None, ids())
    assert request is not None
    assert request.specs[0]["dev_type"] == "type-PF"


def test_remote_managed_port_asks_for_remote_managed_devices() -> None:
    request = port_request("port-1", "remote-managed", "physnet1", None, None, ids())
    assert request is not None
    assert request.specs[0]["remote_managed"] == "True"


@pytest.mark.parametrize(("trusted", "expected"), [(True, "True"), (False, "False")])
def test_trusted_is_in_the_spec_only_when_the_port_sets_it(trusted: bool, expected: str) -> None:
    request = port_request("p", "direct", "physnet1", trusted, None, ids())
    assert request is not None
    assert request.specs[0]["trusted"] == expected
    unset = port_request("p", "direct", "physnet1", None, None, ids())
    assert unset is not None
    assert "trusted" not in unset.specs[0]


def test_overlay_port_keeps_physical_network_none() -> None:
    request = port_request("p", "macvtap", None, None, NumaPolicy.SOCKET, ids())
    assert request is not None
    assert dict(request.specs[0]) == {
        "physical_network": None,
        "remote_managed": "False",
        "has_netdev": "true",  # macvtap needs the VF netdev
    }
    assert request.numa_policy is NumaPolicy.SOCKET


@pytest.mark.parametrize("vnic_type", ["normal", "baremetal"])
def test_vnic_types_without_a_device_make_no_request(vnic_type: str) -> None:
    assert port_request("p", vnic_type, "physnet1", None, None, ids()) is None


def test_virtio_forwarder_needs_a_device_as_in_nova() -> None:
    assert port_request("p", "virtio-forwarder", "physnet1", None, None, ids()) is not None


def test_unknown_vnic_type_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="port p: binding:vnic_type 'smart'"):
        port_request("p", "smart", "physnet1", None, None, ids())
