"""The PCI device state machine, with Nova's PF/VF rules.

available → claimed → allocated → available (free), and → removed.
A claimed or allocated VF makes its PF ``unclaimable`` or ``unavailable``;
a claimed or allocated PF does the same to all its VFs. A PF is available again
only when every one of its VFs is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.errors import (
    DeviceInvalidOwner,
    DeviceInvalidStatus,
    DevicePFInvalidStatus,
    DeviceVFInvalidStatus,
)


class DeviceStatus(StrEnum):
    AVAILABLE = "available"
    CLAIMED = "claimed"
    ALLOCATED = "allocated"
    REMOVED = "removed"
    DELETED = "deleted"
    UNCLAIMABLE = "unclaimable"
    UNAVAILABLE = "unavailable"


_BLOCKED_BY_FAMILY = frozenset({DeviceStatus.UNCLAIMABLE, DeviceStatus.UNAVAILABLE})
_USABLE_PARENT = frozenset({DeviceStatus.AVAILABLE}) | _BLOCKED_BY_FAMILY
_REMOVABLE = _USABLE_PARENT


@dataclass(eq=False)
class TrackedDevice:
    """A device with its status and owner, linked to its PF or VFs."""

    device: PciDevice
    status: DeviceStatus = DeviceStatus.AVAILABLE
    instance_id: str | None = None
    request_id: str | None = None
    parent: TrackedDevice | None = field(default=None, repr=False)
    children: list[TrackedDevice] = field(default_factory=list, repr=False)

    @property
    def address(self) -> PciAddress:
        return self.device.address

    @property
    def is_available(self) -> bool:
        return self.status is DeviceStatus.AVAILABLE

    def _require_status(self, allowed: Iterable[DeviceStatus], action: str) -> None:
        allowed = tuple(allowed)
        if self.status not in allowed:
            expected = " or ".join(s.value for s in allowed)
            raise DeviceInvalidStatus(
                f"cannot {action} PCI device {self.address}: it is {self.status.value}, "
                f"expected {expected}"
            )

    def _require_owner(self, instance_id: str, action: str) -> None:
        if self.instance_id is not None and self.instance_id != instance_id:
            raise DeviceInvalidOwner(
                f"cannot {action} PCI device {self.address} for instance {instance_id}: "
                f"it belongs to instance {self.instance_id}"
            )

    def claim(self, instance_id: str, request_id: str | None = None) -> None:
        self._require_status([DeviceStatus.AVAILABLE], "claim")
        if self.device.dev_type is DeviceType.PF:
            self._check_children_free("claim")
            self._set_children(DeviceStatus.UNCLAIMABLE)
        elif self.device.dev_type is DeviceType.VF and self.parent is not None:
            self._check_parent_usable("claim")
            if self.parent.is_available:
                self.parent.status = DeviceStatus.UNCLAIMABLE
        self.status = DeviceStatus.CLAIMED
        self.instance_id = instance_id
        self.request_id = request_id

    def allocate(self, instance_id: str, request_id: str | None = None) -> None:
        self._require_status([DeviceStatus.AVAILABLE, DeviceStatus.CLAIMED], "allocate")
        if self.status is DeviceStatus.CLAIMED:
            self._require_owner(instance_id, "allocate")
        if self.device.dev_type is DeviceType.PF:
            self._check_children_free("allocate")
            self._set_children(DeviceStatus.UNAVAILABLE)
        elif self.device.dev_type is DeviceType.VF and self.parent is not None:
            self._check_parent_usable("allocate")
            self.parent.status = DeviceStatus.UNAVAILABLE
        self.status = DeviceStatus.ALLOCATED
        self.instance_id = instance_id
        if request_id is not None:
            self.request_id = request_id

    def free(self, instance_id: str | None = None) -> list[TrackedDevice]:
        """Give the device back; returns every device that became available."""
        self._require_status([DeviceStatus.CLAIMED, DeviceStatus.ALLOCATED], "free")
        if instance_id is not None:
            self._require_owner(instance_id, "free")
        freed: list[TrackedDevice] = []
        if self.device.dev_type is DeviceType.PF:
            self._set_children(DeviceStatus.AVAILABLE)
            freed.extend(self.children)
        elif self.device.dev_type is DeviceType.VF and self.parent is not None:
            siblings = (vf for vf in self.parent.children if vf is not self)
            if all(vf.is_available for vf in siblings):
                self.parent.status = DeviceStatus.AVAILABLE
                freed.append(self.parent)
        self.status = DeviceStatus.AVAILABLE
        self.instance_id = None
        self.request_id = None
        freed.append(self)
        return freed

    def remove(self) -> None:
        """The device left the host; only an unowned, unused device may go."""
        self._require_status(_REMOVABLE, "remove")
        if self.instance_id is not None:
            raise DeviceInvalidOwner(
                f"cannot remove PCI device {self.address}: instance {self.instance_id} uses it"
            )
        self.status = DeviceStatus.REMOVED
        self.request_id = None

    def _check_children_free(self, action: str) -> None:
        busy = [vf for vf in self.children if not vf.is_available]
        # VFs that are only blocked by this PF's family are tolerated (Nova bug 1969496).
        in_use = [vf for vf in busy if vf.status not in _BLOCKED_BY_FAMILY]
        if in_use:
            listed = ", ".join(f"{vf.address} ({vf.status.value})" for vf in in_use[:4])
            more = f" and {len(in_use) - 4} more" if len(in_use) > 4 else ""
            raise DeviceVFInvalidStatus(
                f"cannot {action} PF {self.address}: its VFs are in use: {listed}{more}"
            )

    def _check_parent_usable(self, action: str) -> None:
        assert self.parent is not None
        if self.parent.status not in _USABLE_PARENT:
            raise DevicePFInvalidStatus(
                f"cannot {action} VF {self.address}: its PF {self.parent.address} "
                f"is {self.parent.status.value}"
            )

    def _set_children(self, status: DeviceStatus) -> None:
        for vf in self.children:
            vf.status = status


class DeviceTree:
    """The tracked devices of one host, with PFs linked to their VFs."""

    def __init__(self, devices: Iterable[TrackedDevice | PciDevice]) -> None:
        self._by_address: dict[PciAddress, TrackedDevice] = {}
        for item in devices:
            tracked = item if isinstance(item, TrackedDevice) else TrackedDevice(item)
            self._by_address[tracked.address] = tracked
        for tracked in self._by_address.values():
            tracked.parent = None
            tracked.children = []
        for tracked in self._by_address.values():
            parent_addr = tracked.device.parent_addr
            parent = self._by_address.get(parent_addr) if parent_addr else None
            if parent is not None:
                tracked.parent = parent
                parent.children.append(tracked)

    def __getitem__(self, address: PciAddress) -> TrackedDevice:
        return self._by_address[address]

    def __iter__(self) -> Iterator[TrackedDevice]:
        return iter(sorted(self._by_address.values(), key=lambda t: t.address))

    def __len__(self) -> int:
        return len(self._by_address)

    def __contains__(self, address: object) -> bool:
        return address in self._by_address

    def statuses(self) -> dict[PciAddress, DeviceStatus]:
        return {address: t.status for address, t in self._by_address.items()}
