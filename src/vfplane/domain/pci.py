"""PCI addresses and devices: pure value objects."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from vfplane.errors import InvalidPciAddress

MAX_DOMAIN = 0xFFFFFFFF
MAX_BUS = 0xFF
MAX_SLOT = 0x1F
MAX_FUNCTION = 0x7

_ADDRESS_RE = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?"
    r"(?P<bus>[0-9a-fA-F]{1,2}):(?P<slot>[0-9a-fA-F]{1,2})\.(?P<function>[0-7])$"
)


@dataclass(frozen=True, order=True, slots=True)
class PciAddress:
    """A PCI function address; orders by domain, bus, slot, function.

    Domains are 32 bits wide: VMD and Hyper-V hosts show domains such as
    ``10000`` that do not fit Nova's four hex digits (Nova bug 1897528).
    """

    domain: int
    bus: int
    slot: int
    function: int

    def __post_init__(self) -> None:
        for name, value, maximum in (
            ("domain", self.domain, MAX_DOMAIN),
            ("bus", self.bus, MAX_BUS),
            ("slot", self.slot, MAX_SLOT),
            ("function", self.function, MAX_FUNCTION),
        ):
            if not 0 <= value <= maximum:
                raise InvalidPciAddress(f"PCI {name} {value:#x} is outside 0..{maximum:#x}")

    @classmethod
    def parse(cls, text: str) -> PciAddress:
        """Parse ``0000:0a:00.1``, ``0a:00.1`` (domain 0) or ``10000:00:02.0``."""
        return _parse_address(text)

    @classmethod
    def from_routing_id(cls, domain: int, rid: int) -> PciAddress:
        """The address of requester id ``rid`` (bus << 8 | slot << 3 | function)."""
        return cls(domain, (rid >> 8) & 0xFF, (rid >> 3) & 0x1F, rid & 0x7)

    @property
    def routing_id(self) -> int:
        return self.bus << 8 | self.slot << 3 | self.function

    @property
    def fields(self) -> tuple[str, str, str, str]:
        """Domain, bus, slot and function as the strings device_spec matches against."""
        return (f"{self.domain:04x}", f"{self.bus:02x}", f"{self.slot:02x}", f"{self.function:x}")

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"


class DeviceType(StrEnum):
    """Nova's dev_type values for the devices vfplane tracks."""

    PF = "type-PF"
    VF = "type-VF"
    PCI = "type-PCI"


@dataclass(frozen=True, slots=True)
class PciDevice:
    """What a host knows about one PCI function, plus the tags its device_spec gives it."""

    address: PciAddress
    vendor_id: str
    product_id: str
    dev_type: DeviceType
    parent_addr: PciAddress | None = None
    numa_node: int | None = None
    driver: str | None = None
    ifname: str | None = None
    pf_ifname: str | None = None
    vf_index: int | None = None
    mac: str | None = None
    iommu_group: int | None = None
    sriov_totalvfs: int | None = None
    sriov_numvfs: int | None = None
    card_serial_number: str | None = None
    tags: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def vendor_info(self) -> str:
        """``vendor:product`` as binding:profile's pci_vendor_info spells it."""
        return f"{self.vendor_id}:{self.product_id}"

    @property
    def physical_network(self) -> str | None:
        return self.tags.get("physical_network")


@functools.lru_cache(maxsize=1 << 16)  # hosts share their address plans; addresses are immutable
def _parse_address(text: str) -> PciAddress:
    match = _ADDRESS_RE.match(text.strip())
    if match is None:
        raise InvalidPciAddress(
            f"{text!r} is not a PCI address; expected [domain:]bus:slot.function "
            "such as 0000:3b:02.1"
        )
    return PciAddress(
        domain=int(match["domain"] or "0", 16),
        bus=int(match["bus"], 16),
        slot=int(match["slot"], 16),
        function=int(match["function"], 16),
    )
