"""Networking vocabulary: vnic types, vif types, network types, VLAN ranges, MACs."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from vfplane.errors import ConfigError

MIN_VLAN = 1
MAX_VLAN = 4094


class VnicType(StrEnum):
    NORMAL = "normal"
    DIRECT = "direct"
    MACVTAP = "macvtap"
    DIRECT_PHYSICAL = "direct-physical"
    BAREMETAL = "baremetal"
    VIRTIO_FORWARDER = "virtio-forwarder"
    REMOTE_MANAGED = "remote-managed"


SRIOV_VNIC_TYPES = frozenset(
    {VnicType.DIRECT, VnicType.MACVTAP, VnicType.DIRECT_PHYSICAL, VnicType.REMOTE_MANAGED}
)


class VifType(StrEnum):
    UNBOUND = "unbound"
    BINDING_FAILED = "binding_failed"
    HW_VEB = "hw_veb"
    HOSTDEV_PHYSICAL = "hostdev_physical"
    BRIDGE = "bridge"
    QBH = "802.1qbh"


class NetworkType(StrEnum):
    FLAT = "flat"
    VLAN = "vlan"


class PortStatus(StrEnum):
    DOWN = "DOWN"
    BUILD = "BUILD"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"


@dataclass(frozen=True)
class VlanRange:
    physical_network: str
    first: int
    last: int

    def ids(self) -> range:
        return range(self.first, self.last + 1)


def parse_vlan_ranges(entries: Sequence[str]) -> tuple[list[str], list[VlanRange]]:
    """``physnet1:100:199`` (tenant VLANs) or ``physnet2`` (provider networks only).

    Returns the physnets vlan networks may use and the ranges tenant networks draw from.
    """
    physnets: list[str] = []
    ranges: list[VlanRange] = []
    for entry in entries:
        parts = [p.strip() for p in entry.split(":")]
        if not parts[0] or len(parts) not in (1, 3):
            raise ConfigError(
                f"[network] network_vlan_ranges: invalid entry '{entry}'; expected "
                "physnet or physnet:first:last"
            )
        if parts[0] not in physnets:
            physnets.append(parts[0])
        if len(parts) == 3:
            ranges.append(_vlan_range(entry, parts))
    return physnets, ranges


def _vlan_range(entry: str, parts: list[str]) -> VlanRange:
    try:
        first, last = int(parts[1]), int(parts[2])
    except ValueError:
        raise ConfigError(
            f"[network] network_vlan_ranges: '{entry}': VLAN ids must be numbers"
        ) from None
    if not MIN_VLAN <= first <= last <= MAX_VLAN:
        raise ConfigError(
            f"[network] network_vlan_ranges: '{entry}': need {MIN_VLAN} <= first <= last "
            f"<= {MAX_VLAN}"
        )
    return VlanRange(parts[0], first, last)


def random_mac(prefix: str, rng: random.Random | None = None) -> str:
    """``prefix`` (three octets) followed by three random octets."""
    rng = rng or random.SystemRandom()
    tail = ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
    return f"{prefix}:{tail}"
