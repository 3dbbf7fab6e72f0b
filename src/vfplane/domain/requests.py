"""PCI requests from ports and flavors, as Nova builds them.

A request asks for ``count`` devices matching any one of its ``specs``. Flavor
requests come from the ``pci_passthrough:alias`` extra spec; port requests
from a port's vnic_type and its network's physnet. NUMA policy precedence is
port > flavor (``hw:pci_numa_affinity_policy``) > alias > ``legacy``; a
request whose policy is ``None`` takes the instance's policy when scheduled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from vfplane.domain.alias import Alias, NumaPolicy
from vfplane.domain.networks import SRIOV_VNIC_TYPES, VnicType
from vfplane.domain.pci import DeviceType
from vfplane.errors import InvalidInput

ALIAS_EXTRA_SPEC = "pci_passthrough:alias"
NUMA_POLICY_EXTRA_SPEC = "hw:pci_numa_affinity_policy"
NUMA_NODES_EXTRA_SPEC = "hw:numa_nodes"
_ALIAS_SPEC_RE = re.compile(r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*")

# Nova's VNIC_TYPES_SRIOV also lists virtio-forwarder (vdpa is not modelled here).
DEVICE_VNIC_TYPES = SRIOV_VNIC_TYPES | {VnicType.VIRTIO_FORWARDER}

Spec = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class PciRequest:
    """``count`` devices, each matching one of ``specs`` (the specs are alternatives).

    ``requester_id`` is the port id for port requests and ``None`` for flavor ones.
    A spec value ``None`` (``physical_network`` of an overlay port) only matches
    devices without that tag.
    """

    request_id: str
    count: int
    specs: tuple[Spec, ...]
    numa_policy: NumaPolicy | None
    alias_name: str | None
    requester_id: str | None

    @property
    def is_port_request(self) -> bool:
        return self.alias_name is None


def parse_alias_extra_spec(value: str, aliases: Mapping[str, Alias]) -> list[tuple[Alias, int]]:
    """Parse ``"a1:2, a2:1"`` into (alias, count) pairs, in order; names are stripped."""
    if not _ALIAS_SPEC_RE.fullmatch(value):
        raise InvalidInput(
            f"{ALIAS_EXTRA_SPEC} {value!r} must be a comma-separated list of <alias>:<count>, "
            'such as "nic:2" or "nic:1, gpu:1"'
        )
    pairs: list[tuple[Alias, int]] = []
    for entry in value.split(","):
        raw_name, raw_count = entry.rsplit(":", 1)
        name, count = raw_name.strip(), int(raw_count)
        alias = aliases.get(name)
        if alias is None:
            known = ", ".join(sorted(aliases)) or "none"
            raise InvalidInput(
                f"PCI alias '{name}' in {ALIAS_EXTRA_SPEC} is not defined "
                f"(defined aliases: {known})"
            )
        if count < 1:
            raise InvalidInput(
                f"PCI alias '{name}' in {ALIAS_EXTRA_SPEC} asks for {count} devices; "
                "ask for at least 1"
            )
        pairs.append((alias, count))
    return pairs


def flavor_numa_policy(extra_specs: Mapping[str, str]) -> NumaPolicy | None:
    """The flavor's ``hw:pci_numa_affinity_policy``, or ``None`` when unset."""
    raw = extra_specs.get(NUMA_POLICY_EXTRA_SPEC)
    if raw is None:
        return None
    try:
        return NumaPolicy(raw.strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in NumaPolicy)
        raise InvalidInput(f"{NUMA_POLICY_EXTRA_SPEC} {raw!r} is not one of {choices}") from None


def flavor_numa_nodes(extra_specs: Mapping[str, str], vcpus: int | None = None) -> int | None:
    """The guest NUMA node count of ``hw:numa_nodes``; ``None`` for no guest topology."""
    raw = extra_specs.get(NUMA_NODES_EXTRA_SPEC)
    if raw is None:
        return None
    try:
        nodes = int(raw.strip())
    except ValueError:
        nodes = 0
    if nodes < 1:
        raise InvalidInput(f"{NUMA_NODES_EXTRA_SPEC} {raw!r} must be a whole number of at least 1")
    if vcpus is not None and nodes > vcpus:
        raise InvalidInput(f"{NUMA_NODES_EXTRA_SPEC} {nodes} asks for more guest NUMA nodes than "
                           f"the flavor has vCPUs ({vcpus}); each node needs one")  # fmt: skip
    return nodes


def flavor_requests(
    extra_specs: Mapping[str, str],
    aliases: Mapping[str, Alias],
    new_id: Callable[[], str],
) -> list[PciRequest]:
    """One request per ``pci_passthrough:alias`` entry; flavor policy beats alias policy."""
    flavor_policy = flavor_numa_policy(extra_specs)
    value = extra_specs.get(ALIAS_EXTRA_SPEC)
    if value is None:
        return []
    return [
        PciRequest(
            request_id=new_id(),
            count=count,
            specs=tuple(_frozen(spec) for spec in alias.specs),
            numa_policy=flavor_policy or alias.numa_policy,
            alias_name=alias.name,
            requester_id=None,
        )
        for alias, count in parse_alias_extra_spec(value, aliases)
    ]


def port_request(
    port_id: str,
    vnic_type: VnicType | str,
    physical_network: str | None,
    trusted: bool | None,
    numa_policy: NumaPolicy | None,
    new_id: Callable[[], str],
) -> PciRequest | None:
    """The one-device request of a port, or ``None`` when its vnic_type needs no device.

    ``physical_network`` is ``None`` for tunnelled networks and then matches only
    untagged devices. ``numa_policy`` is the port's policy, else the flavor's.
    """
    try:
        vnic = VnicType(vnic_type)
    except ValueError:
        choices = ", ".join(v.value for v in VnicType)
        raise InvalidInput(
            f"port {port_id}: binding:vnic_type {vnic_type!r} is not one of {choices}"
        ) from None
    if vnic not in DEVICE_VNIC_TYPES:
        return None
    spec: dict[str, str | None] = {
        "physical_network": physical_network,
        "remote_managed": str(vnic is VnicType.REMOTE_MANAGED),
    }
    if vnic is VnicType.DIRECT_PHYSICAL:
        spec["dev_type"] = DeviceType.PF.value
    if vnic is VnicType.MACVTAP:
        spec["has_netdev"] = "true"  # a VF bound to vfio-pci has no netdev to stack macvtap on
    if trusted is not None:
        spec["trusted"] = str(trusted)
    return PciRequest(
        request_id=new_id(),
        count=1,
        specs=(_frozen(spec),),
        numa_policy=numa_policy,
        alias_name=None,
        requester_id=port_id,
    )


def _frozen(spec: Spec) -> Spec:
    return MappingProxyType(dict(spec))
