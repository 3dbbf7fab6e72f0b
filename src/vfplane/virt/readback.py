"""Reading domain XML back, ours or libvirt's dumpxml: devices, their ports, the generation.

Ports are named by vfplane's metadata (:mod:`vfplane.virt.metadata`): an
``<interface>`` by its MAC, a PF ``<hostdev>`` by its PCI address. A device
whose key the metadata does not list has no port id.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vfplane.domain.pci import PciAddress
from vfplane.errors import InvalidDomainSpec, InvalidPciAddress
from vfplane.virt.metadata import MetadataPort, instance_xml, read_generation, read_ports


@dataclass(frozen=True, slots=True)
class DomainInterface:
    """An ``<interface>`` read back from domain XML (ours or libvirt's dumpxml)."""

    type: str
    mac: str | None
    port_id: str | None = None
    managed: bool | None = None
    pci_address: PciAddress | None = None
    source_dev: str | None = None
    source_mode: str | None = None
    bridge: str | None = None
    model: str | None = None
    vlan: int | None = None
    virtualport: str | None = None
    profileid: str | None = None


@dataclass(frozen=True, slots=True)
class DomainHostdev:
    """A PCI ``<hostdev>`` read back; ``port_id`` is set for direct-physical ports."""

    address: PciAddress
    managed: bool
    port_id: str | None = None


def interfaces_of(xml: str) -> list[DomainInterface]:
    """The ``<interface>`` devices of a domain document, in document order."""
    root = _parse(xml)
    ports = _ports_by_key(root)
    return [_read_interface(element, ports) for element in root.iterfind("./devices/interface")]


def hostdevs_of(xml: str) -> list[DomainHostdev]:
    """The PCI ``<hostdev>`` devices of a domain document, in document order."""
    root = _parse(xml)
    ports = _ports_by_key(root)
    return [
        DomainHostdev(address, element.get("managed") == "yes", ports.get(str(address)))
        for element, address in _pci_hostdevs(root)
    ]


def plugged_port_ids(xml: str) -> set[str]:
    """The ports whose device is in the domain: what :func:`interfaces_of` and
    :func:`hostdevs_of` name."""
    named = [i.port_id for i in interfaces_of(xml)] + [h.port_id for h in hostdevs_of(xml)]
    return {port_id for port_id in named if port_id is not None}


def domain_generation(xml: str) -> int:
    """The boot generation in vfplane's metadata; 0 when the document has none."""
    return read_generation(_parse(xml))


def device_xml(xml: str, port_id: str) -> str | None:
    """The device element of one port, as the document has it (for a detach), or None."""
    root = _parse(xml)
    ports = _ports_by_key(root)
    for element, key in _keyed_devices(root):
        if ports.get(key) == port_id:
            device = copy.copy(element)
            device.tail = None
            return ET.tostring(device, encoding="unicode")
    return None


def refreshed_metadata(live_xml: str, attached: Iterable[MetadataPort] = ()) -> str:
    """The instance element (``virDomainSetMetadata`` form) naming the devices ``live_xml``
    holds now: by its own metadata, or as one of the ports just ``attached``. Detached
    ports drop out, devices nobody named stay unnamed, the generation stays."""
    root = _parse(live_xml)
    entries = {port.key: port for port in read_ports(root)}
    entries.update({port.key: port for port in attached})
    present = [key for _element, key in _keyed_devices(root)]
    ports = [entries[key] for key in present if key in entries]
    return instance_xml(_unique_ports(ports), read_generation(root))


# -- helpers ----------------------------------------------------------------------


def _parse(xml: str) -> ET.Element:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise InvalidDomainSpec(f"not an XML document: {exc}") from None
    if root.tag != "domain":
        raise InvalidDomainSpec(f"root element is <{root.tag}>, not <domain>")
    return root


def _ports_by_key(root: ET.Element) -> dict[str, str]:
    """MAC (lower case) or PCI address -> port id, from our metadata."""
    return {port.key: port.port_id for port in read_ports(root)}


def _unique_ports(ports: Iterable[MetadataPort]) -> list[MetadataPort]:
    seen: set[str] = set()
    unique = []
    for port in ports:
        if port.port_id not in seen:
            seen.add(port.port_id)
            unique.append(port)
    return unique


def _pci_hostdevs(root: ET.Element) -> list[tuple[ET.Element, PciAddress]]:
    found = []
    for element in root.iterfind("./devices/hostdev[@type='pci']"):
        address = _read_address(element.find("./source/address"))
        if address is not None:
            found.append((element, address))
    return found


def _keyed_devices(root: ET.Element) -> list[tuple[ET.Element, str]]:
    """Every device a port can be: interfaces by MAC, PCI hostdevs by address."""
    found = []
    for element in root.iterfind("./devices/interface"):
        mac = element.find("mac")
        address = mac.get("address") if mac is not None else None
        if address:
            found.append((element, address.lower()))
    found += [(element, str(address)) for element, address in _pci_hostdevs(root)]
    return found


def _read_interface(element: ET.Element, ports: Mapping[str, str]) -> DomainInterface:
    mac_element = element.find("mac")
    mac = mac_element.get("address") if mac_element is not None else None
    source = element.find("source")
    model = element.find("model")
    virtualport = element.find("virtualport")
    parameters = element.find("virtualport/parameters")
    tag = element.find("vlan/tag")
    managed = element.get("managed")
    return DomainInterface(
        type=element.get("type", ""),
        mac=mac,
        port_id=ports.get(mac.lower()) if mac else None,
        managed=None if managed is None else managed == "yes",
        pci_address=_read_address(element.find("source/address")),
        source_dev=source.get("dev") if source is not None else None,
        source_mode=source.get("mode") if source is not None else None,
        bridge=source.get("bridge") if source is not None else None,
        model=model.get("type") if model is not None else None,
        vlan=_read_vlan(tag),
        virtualport=virtualport.get("type") if virtualport is not None else None,
        profileid=parameters.get("profileid") if parameters is not None else None,
    )


def _read_vlan(tag: ET.Element | None) -> int | None:
    if tag is None:
        return None
    try:
        return int(tag.get("id", ""))
    except ValueError:
        raise InvalidDomainSpec(f"bad VLAN tag id {tag.get('id')!r} in domain XML") from None


def _read_address(element: ET.Element | None) -> PciAddress | None:
    if element is None:
        return None
    try:
        fields = [_hex_or_dec(element.get(key)) for key in ("domain", "bus", "slot", "function")]
        return PciAddress(*fields)
    except (ValueError, InvalidPciAddress) as exc:
        raise InvalidDomainSpec(f"bad PCI address in domain XML: {exc}") from None


def _hex_or_dec(text: str | None) -> int:
    if text is None:
        raise ValueError("missing attribute")
    return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
