"""The NIC agent's grammar: ``physical_device_mappings`` and ``exclude_devices`` (Neutron)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vfplane.domain.pci import PciAddress
from vfplane.errors import InvalidDeviceMapping, InvalidPciAddress

Items = str | Sequence[str]


def _split_items(value: Items) -> list[str]:
    """A comma-separated string (oslo ListOpt) or a list of such strings."""
    parts = [value] if isinstance(value, str) else list(value)
    return [item.strip() for part in parts for item in part.split(",") if item.strip()]


@dataclass(frozen=True)
class DeviceMappings:
    """physnet → PF netdevs, and PF netdev → VFs that must not be used."""

    physnets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    excluded: Mapping[str, frozenset[PciAddress]] = field(default_factory=dict)

    def physnet_of(self, pf_ifname: str | None) -> str | None:
        for physnet, interfaces in self.physnets.items():
            if pf_ifname in interfaces:
                return physnet
        return None

    def is_excluded(self, pf_ifname: str | None, address: PciAddress) -> bool:
        return pf_ifname is not None and address in self.excluded.get(pf_ifname, frozenset())


def parse_physical_device_mappings(
    value: Items, option: str = "physical_device_mappings"
) -> dict[str, tuple[str, ...]]:
    """``physnet1:ens1f0,physnet1:ens1f1`` → ``{"physnet1": ("ens1f0", "ens1f1")}``.

    As in Neutron a physnet may list several PFs. Unlike Neutron, a PF listed under
    two physnets is an error: a PF is cabled to one physical network. ``option`` names
    the setting in errors (``interface_mappings`` has the same grammar).
    """
    mappings: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for item in _split_items(value):
        parts = item.split(":")
        if len(parts) != 2:
            raise InvalidDeviceMapping(
                f"{option}: invalid mapping '{item}'; expected physnet:interface"
            )
        physnet, interface = (p.strip() for p in parts)
        if not physnet:
            raise InvalidDeviceMapping(f"{option}: missing key in mapping '{item}'")
        if not interface:
            raise InvalidDeviceMapping(f"{option}: missing value in mapping '{item}'")
        if owner.get(interface, physnet) != physnet:
            raise InvalidDeviceMapping(
                f"{option}: interface {interface} is mapped to both "
                f"{owner[interface]} and {physnet}; a PF belongs to one physical network"
            )
        owner[interface] = physnet
        interfaces = mappings.setdefault(physnet, [])
        if interface not in interfaces:
            interfaces.append(interface)
    return {physnet: tuple(interfaces) for physnet, interfaces in mappings.items()}


def parse_exclude_devices(
    value: Items, physnets: Mapping[str, Sequence[str]]
) -> dict[str, frozenset[PciAddress]]:
    """``ens1f0:0000:07:00.2;0000:07:00.3,ens1f1:0000:05:00.1`` → PF → excluded VFs.

    Each entry splits at its first ``:``; a PF may appear once and must be mapped.
    """
    mapped = {interface for interfaces in physnets.values() for interface in interfaces}
    excluded: dict[str, frozenset[PciAddress]] = {}
    for item in _split_items(value):
        interface, sep, devices = item.partition(":")
        interface = interface.strip()
        if not sep:
            raise InvalidDeviceMapping(
                f"exclude_devices: invalid mapping '{item}'; expected "
                "interface:pci_address[;pci_address...]"
            )
        if not interface:
            raise InvalidDeviceMapping(f"exclude_devices: missing key in mapping '{item}'")
        if interface in excluded:
            raise InvalidDeviceMapping(
                f"exclude_devices: device {interface} in mapping '{item}' not unique"
            )
        if interface not in mapped:
            raise InvalidDeviceMapping(
                f"exclude_devices: device name {interface} is missing from physical_device_mappings"
            )
        excluded[interface] = frozenset(
            _parse_excluded_address(interface, text) for text in devices.split(";") if text.strip()
        )
    return excluded


def _parse_excluded_address(interface: str, text: str) -> PciAddress:
    try:
        return PciAddress.parse(text)
    except InvalidPciAddress as exc:
        raise InvalidDeviceMapping(
            f"exclude_devices: {interface}: {text.strip()!r} is not a PCI address: {exc}"
        ) from exc


def parse_device_mappings(mappings: Items, exclude: Items = ()) -> DeviceMappings:
    physnets = parse_physical_device_mappings(mappings)
    return DeviceMappings(physnets, parse_exclude_devices(exclude, physnets))
