"""vfplane's ``<metadata>`` in domain XML: the boot generation and which port is which device.

Rendered inside ``<metadata>`` as::

    <vfplane:instance xmlns:vfplane="https://vfplane.dev/xmlns/domain/1" generation="3">
      <vfplane:port id="<port id>" mac="52:54:00:00:00:01"/>   (an <interface>)
      <vfplane:port id="<port id>" pci="0000:0b:00.0"/>        (a PF <hostdev>)
    </vfplane:instance>

``generation`` counts the server's reboot requests: the agent reboots a running
domain whose generation is lower than the desired one. libvirt keeps the element
as it is (dumpxml shows it, prefix and all), and :func:`instance_xml` is the same
element in the form ``virDomainSetMetadata`` takes (no namespace: libvirt puts it
and its children into ``METADATA_NS`` with the prefix ``METADATA_KEY``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from vfplane.errors import InvalidDomainSpec

METADATA_NS = "https://vfplane.dev/xmlns/domain/1"
METADATA_KEY = "vfplane"
_INSTANCE = f"./metadata/{{{METADATA_NS}}}instance"


@dataclass(frozen=True, slots=True)
class MetadataPort:
    """One port's entry: the device is found by ``key``, a MAC (interfaces) or PCI address."""

    port_id: str
    kind: str  # "mac" | "pci"
    key: str


def metadata_element(ports: Iterable[MetadataPort], generation: int) -> ET.Element:
    """``<metadata>`` with our instance element, prefixed, for a whole domain document."""
    # A literal prefix keeps ElementTree's global namespace registry untouched.
    metadata = ET.Element("metadata")
    attributes = {"xmlns:vfplane": METADATA_NS, "generation": str(check_generation(generation))}
    instance = ET.SubElement(metadata, "vfplane:instance", attributes)
    for port in ports:
        ET.SubElement(instance, "vfplane:port", {"id": port.port_id, port.kind: port.key})
    return metadata


def instance_xml(ports: Iterable[MetadataPort], generation: int) -> str:
    """The instance element as ``virDomainSetMetadata`` (ELEMENT, key, uri) takes it."""
    instance = ET.Element("instance", generation=str(check_generation(generation)))
    for port in ports:
        ET.SubElement(instance, "port", {"id": port.port_id, port.kind: port.key})
    return ET.tostring(instance, encoding="unicode")


def check_generation(generation: int) -> int:
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise InvalidDomainSpec(f"generation {generation!r} must be a non-negative integer")
    return generation


def read_ports(root: ET.Element) -> list[MetadataPort]:
    """The port entries of a parsed domain document (ours or libvirt's), in order."""
    found = []
    for port in root.iterfind(f"{_INSTANCE}/{{{METADATA_NS}}}port"):
        port_id = port.get("id")
        kind = "mac" if port.get("mac") else "pci"
        key = port.get(kind)
        if port_id and key:
            found.append(MetadataPort(port_id, kind, key.lower() if kind == "mac" else key))
    return found


def read_generation(root: ET.Element) -> int:
    """The boot generation of a parsed domain document; 0 when it has none."""
    instance = root.find(_INSTANCE)
    text = instance.get("generation") if instance is not None else None
    if text is None:
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise InvalidDomainSpec(f"bad generation {text!r} in the domain's vfplane metadata")
    return value
