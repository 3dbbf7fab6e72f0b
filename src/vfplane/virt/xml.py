"""libvirt domain XML from port bindings and PCI devices: pure, no I/O.

One form per (vif_type, vnic_type), as Nova's libvirt driver writes them
(reference/nova-pci-sriov.md §6), children in Nova's order (mac, model,
source, vlan, virtualport):

=================  =================  ============================================
vif_type           vnic_type          element
=================  =================  ============================================
hw_veb             direct             ``<interface type='hostdev' managed='yes'>``
                                      mac, source/address type='pci', vlan
hw_veb             macvtap            ``<interface type='direct'>`` mac, virtio
                                      model, source dev=<VF netdev>
                                      mode='passthrough', vlan
802.1qbh           direct / macvtap   the hw_veb form without ``<vlan>``, plus
                                      ``<virtualport type='802.1Qbh'>`` profileid
hostdev_physical   direct-physical    ``<hostdev mode='subsystem' type='pci'
                                      managed='yes'>``: no MAC, no VLAN
bridge             normal             ``<interface type='bridge'>`` mac, source
                                      bridge, virtio model
=================  =================  ============================================

Flavor (alias) devices are ``<hostdev>`` elements too, ``managed='no'`` when the
device's ``managed`` tag is ``"false"``.

Decisions:

- VLAN: Nova emits ``<vlan>`` whenever ``vif_details["vlan"]`` is truthy, and
  the string ``"0"`` is truthy, so a flat network gets ``<tag id='0'/>``. Here a
  missing, empty or ``"0"`` VLAN means *untagged* and no ``<vlan>`` element is
  written; any other value must be an integer 1..4094 (802.1Q; the kernel's
  ``ip link set vf N vlan`` and libvirt's SR-IOV path take one such tag).
- 802.1Qbh: ``profileid`` is required, at most 39 characters (the schema), and
  may not contain ``<``, ``&`` or ``'``: libvirt 9 writes profileid into its own
  XML unescaped and then fails to parse it back when the domain starts. Quotes
  and ``>`` are fine and stay data.
- Every value is set through ElementTree, never concatenated: names, MACs,
  paths and profile ids are data, whatever characters they hold. MACs must be
  unicast (the schema) and are written lower case; netdev and bridge names
  must satisfy both the kernel (1..15 characters) and the schema's deviceName
  (letters, digits, ``_ . -``). Domain names may hold anything XML carries
  except ``/`` and newlines (libvirt refuses both for qemu).
- The port ids travel in ``<metadata>`` (``vfplane:port`` elements with the
  port's MAC or PCI address, as Nova keeps ``nova:ports``), so
  :func:`interfaces_of` and :func:`hostdevs_of` can name the port of each
  device in libvirt's dumpxml as well as in our own output; the server's boot
  ``generation`` is an attribute there too (:mod:`vfplane.virt.metadata`).
  Reading documents back lives in :mod:`vfplane.virt.readback`; its functions
  are re-exported here.
- ``numa_nodes`` are *host* NUMA nodes: the guest's memory is bound to them
  (``<numatune><memory mode='strict' nodeset=…/>``), which is how a VM is
  kept on the NUMA node of its VFs.
"""

from __future__ import annotations

import re
import uuid as uuid_module
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from os import PathLike, fspath
from pathlib import PurePosixPath
from typing import TypeVar

from vfplane.domain.networks import VifType, VnicType
from vfplane.domain.pci import PciAddress, PciDevice
from vfplane.errors import InvalidDomainSpec
from vfplane.virt.metadata import METADATA_KEY as METADATA_KEY
from vfplane.virt.metadata import METADATA_NS as METADATA_NS
from vfplane.virt.metadata import MetadataPort, metadata_element
from vfplane.virt.readback import DomainHostdev as DomainHostdev
from vfplane.virt.readback import DomainInterface as DomainInterface
from vfplane.virt.readback import device_xml as device_xml
from vfplane.virt.readback import domain_generation as domain_generation
from vfplane.virt.readback import hostdevs_of as hostdevs_of
from vfplane.virt.readback import interfaces_of as interfaces_of
from vfplane.virt.readback import plugged_port_ids as plugged_port_ids
from vfplane.virt.readback import refreshed_metadata as refreshed_metadata

ARCH = "x86_64"
MACHINE = "q35"
DISK_FORMATS = ("qcow2", "raw")
VLAN_MIN, VLAN_MAX = 1, 4094
PROFILEID_MAX = 39
PROFILEID_FORBIDDEN = "<&'"

# The kernel's rules (at most 15 characters, no '/', ':' or blanks) within the
# schema's deviceName pattern.
_NETDEV_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_MAC_RE = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NO_VLAN = (None, "", "0", 0)
_T = TypeVar("_T")


class PlugForm(StrEnum):
    """The libvirt element a port becomes."""

    HOSTDEV_INTERFACE = "hostdev-interface"
    DIRECT_INTERFACE = "direct-interface"
    BRIDGE_INTERFACE = "bridge-interface"
    PCI_HOSTDEV = "pci-hostdev"


_FORMS: Mapping[tuple[VifType, VnicType], PlugForm] = {
    (VifType.HW_VEB, VnicType.DIRECT): PlugForm.HOSTDEV_INTERFACE,
    (VifType.HW_VEB, VnicType.MACVTAP): PlugForm.DIRECT_INTERFACE,
    (VifType.QBH, VnicType.DIRECT): PlugForm.HOSTDEV_INTERFACE,
    (VifType.QBH, VnicType.MACVTAP): PlugForm.DIRECT_INTERFACE,
    (VifType.HOSTDEV_PHYSICAL, VnicType.DIRECT_PHYSICAL): PlugForm.PCI_HOSTDEV,
    (VifType.BRIDGE, VnicType.NORMAL): PlugForm.BRIDGE_INTERFACE,
}


@dataclass(frozen=True, slots=True)
class VifPlug:
    """One bound port to plug into a domain.

    ``pci_slot`` is the VF (or PF) from ``binding:profile``; ``vf_netdev`` the
    VF's network interface for macvtap; ``bridge`` the Linux bridge of a
    ``normal`` port (else ``vif_details["bridge_name"]``).
    """

    port_id: str
    mac: str
    vif_type: VifType
    vnic_type: VnicType
    vif_details: Mapping[str, object] = field(default_factory=dict)
    pci_slot: PciAddress | None = None
    vf_netdev: str | None = None
    bridge: str | None = None

    @property
    def form(self) -> PlugForm:
        return plug_form(self.vif_type, self.vnic_type)

    @property
    def vlan(self) -> int | None:
        """The VLAN tag to write, or None for untagged (missing, empty or "0")."""
        return parse_vlan(self.vif_details.get("vlan"))


@dataclass(frozen=True, slots=True)
class PciPassthrough:
    """A whole PCI device for the guest (a flavor alias device)."""

    address: PciAddress
    managed: bool = True

    @classmethod
    def of_device(cls, device: PciDevice) -> PciPassthrough:
        """``managed`` from the device's tag: only ``"false"`` means unmanaged (as Nova)."""
        return cls(device.address, managed=device.tags.get("managed") != "false")


def plug_form(vif_type: VifType, vnic_type: VnicType) -> PlugForm:
    """The element a (vif_type, vnic_type) pair becomes; InvalidDomainSpec if none."""
    form = _FORMS.get((vif_type, vnic_type))
    if form is None:
        known = ", ".join(f"{v.value}+{n.value}" for v, n in _FORMS)
        raise InvalidDomainSpec(
            f"vif_type {vif_type.value!r} with vnic_type {vnic_type.value!r} has no libvirt "
            f"form; known: {known}"
        )
    return form


def parse_vlan(value: object) -> int | None:
    """``vif_details["vlan"]`` as a tag: None for untagged, else 1..4094."""
    if value in _NO_VLAN:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidDomainSpec(f"vlan {value!r} is not an integer")
    try:
        tag = int(value)
    except ValueError:
        raise InvalidDomainSpec(f"vlan {value!r} is not an integer") from None
    if not VLAN_MIN <= tag <= VLAN_MAX:
        raise InvalidDomainSpec(f"vlan {tag} is outside {VLAN_MIN}..{VLAN_MAX}")
    return tag


def render_domain(
    name: str,
    uuid: str | uuid_module.UUID,
    vcpus: int,
    memory_mb: int,
    image_path: str | PathLike[str],
    interfaces: Sequence[VifPlug] = (),
    hostdevs: Sequence[PciPassthrough] = (),
    numa_nodes: Iterable[int] = (),
    *,
    disk_format: str = "qcow2",
    generation: int = 0,
) -> str:
    """A whole KVM domain document: hvm, one virtio disk, the ports, the devices, a console.

    ``generation`` (the server's reboot count) goes into vfplane's metadata.
    """
    _check_unique(interfaces, hostdevs)
    root = ET.Element("domain", type="kvm")
    _text(root, "name", _check_name(name))
    _text(root, "uuid", _check_uuid(uuid))
    root.append(metadata_element([metadata_port(p) for p in interfaces], generation))
    _text(root, "memory", str(_positive(memory_mb, "memory_mb")), unit="MiB")
    _text(root, "vcpu", str(_positive(vcpus, "vcpus")), placement="static")
    nodeset = _nodeset(numa_nodes)
    if nodeset:
        ET.SubElement(ET.SubElement(root, "numatune"), "memory", mode="strict", nodeset=nodeset)
    os_element = ET.SubElement(root, "os")
    _text(os_element, "type", "hvm", arch=ARCH, machine=MACHINE)
    ET.SubElement(os_element, "boot", dev="hd")
    features = ET.SubElement(root, "features")
    ET.SubElement(features, "acpi")
    ET.SubElement(features, "apic")
    devices = ET.SubElement(root, "devices")
    devices.append(_disk(image_path, disk_format))
    for plug in interfaces:
        devices.append(render_plug(plug))
    for hostdev in hostdevs:
        devices.append(_pci_hostdev(hostdev.address, managed=hostdev.managed))
    ET.SubElement(ET.SubElement(devices, "serial", type="pty"), "target", port="0")
    ET.SubElement(ET.SubElement(devices, "console", type="pty"), "target", type="serial", port="0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def render_plug(plug: VifPlug) -> ET.Element:
    """The device element of one port (an ``<interface>``, or a ``<hostdev>`` for a PF)."""
    _check_xml_text(plug.port_id, "port_id")
    form = plug.form
    if form is PlugForm.PCI_HOSTDEV:
        return _pci_hostdev(_require(plug.pci_slot, plug, "pci_slot"), managed=True)
    if form is PlugForm.BRIDGE_INTERFACE:
        return _bridge_interface(plug)
    qbh = plug.vif_type is VifType.QBH
    vlan = None if qbh else plug.vlan
    profileid = _check_profileid(plug.vif_details.get("profileid")) if qbh else None
    if form is PlugForm.HOSTDEV_INTERFACE:
        iface = ET.Element("interface", type="hostdev", managed="yes")
        ET.SubElement(iface, "mac", address=check_mac(plug.mac))
        source = ET.SubElement(iface, "source")
        _address(source, _require(plug.pci_slot, plug, "pci_slot"), pci_type=True)
    else:
        netdev = _check_netdev(_require(plug.vf_netdev, plug, "vf_netdev"), "vf_netdev")
        iface = ET.Element("interface", type="direct")
        ET.SubElement(iface, "mac", address=check_mac(plug.mac))
        ET.SubElement(iface, "model", type="virtio")
        ET.SubElement(iface, "source", dev=netdev, mode="passthrough")
    if vlan is not None:
        ET.SubElement(ET.SubElement(iface, "vlan"), "tag", id=str(vlan))
    if profileid is not None:
        virtualport = ET.SubElement(iface, "virtualport", type="802.1Qbh")
        ET.SubElement(virtualport, "parameters", profileid=profileid)
    return iface


def render_plug_xml(plug: VifPlug) -> str:
    """:func:`render_plug` as text: the device to hot-plug."""
    return ET.tostring(render_plug(plug), encoding="unicode")


def metadata_port(plug: VifPlug) -> MetadataPort:
    """The port's metadata entry: its MAC, or its PCI address when it is a PF hostdev."""
    if plug.form is PlugForm.PCI_HOSTDEV:
        return MetadataPort(plug.port_id, "pci", str(_require(plug.pci_slot, plug, "pci_slot")))
    return MetadataPort(plug.port_id, "mac", check_mac(plug.mac))


def check_mac(mac: str) -> str:
    """A unicast MAC address in lower case; InvalidDomainSpec otherwise."""
    normalized = mac.strip().lower() if isinstance(mac, str) else ""
    if not _MAC_RE.fullmatch(normalized):
        raise InvalidDomainSpec(f"MAC address {mac!r} is not of the form aa:bb:cc:dd:ee:ff")
    if int(normalized[:2], 16) & 1:
        raise InvalidDomainSpec(f"MAC address {mac!r} is multicast; a NIC needs a unicast MAC")
    return normalized


# -- rendering helpers --------------------------------------------------------


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


def _disk(image_path: str | PathLike[str], disk_format: str) -> ET.Element:
    path = fspath(image_path)
    _check_xml_text(path, "image_path")
    if not PurePosixPath(path).is_absolute():
        raise InvalidDomainSpec(f"image_path {path!r} must be absolute")
    if disk_format not in DISK_FORMATS:
        raise InvalidDomainSpec(f"disk_format {disk_format!r} is not one of {DISK_FORMATS}")
    disk = ET.Element("disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type=disk_format)
    ET.SubElement(disk, "source", file=path)
    ET.SubElement(disk, "target", dev="vda", bus="virtio")
    return disk


def _bridge_interface(plug: VifPlug) -> ET.Element:
    bridge = plug.bridge or plug.vif_details.get("bridge_name")
    if not isinstance(bridge, str) or not bridge:
        raise InvalidDomainSpec(
            f"port {plug.port_id}: vif_type bridge needs a bridge name (plug.bridge or "
            "vif_details['bridge_name'])"
        )
    iface = ET.Element("interface", type="bridge")
    ET.SubElement(iface, "mac", address=check_mac(plug.mac))
    ET.SubElement(iface, "source", bridge=_check_netdev(bridge, "bridge"))
    ET.SubElement(iface, "model", type="virtio")
    return iface


def _pci_hostdev(address: PciAddress, *, managed: bool) -> ET.Element:
    hostdev = ET.Element("hostdev", mode="subsystem", type="pci", managed=_yes_no(managed))
    _address(ET.SubElement(hostdev, "source"), address, pci_type=False)
    return hostdev


def _address(parent: ET.Element, address: PciAddress, *, pci_type: bool) -> None:
    attributes = {"type": "pci"} if pci_type else {}
    attributes |= {
        "domain": f"{address.domain:#06x}",
        "bus": f"{address.bus:#04x}",
        "slot": f"{address.slot:#04x}",
        "function": f"{address.function:#x}",
    }
    ET.SubElement(parent, "address", attributes)


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _require(value: _T | None, plug: VifPlug, what: str) -> _T:
    if value is None:
        raise InvalidDomainSpec(
            f"port {plug.port_id}: {plug.vif_type.value}+{plug.vnic_type.value} needs {what}"
        )
    return value


# -- validation ---------------------------------------------------------------


def _check_xml_text(value: str, what: str) -> str:
    if not isinstance(value, str) or _NOT_XML_CHAR.search(value):
        raise InvalidDomainSpec(f"{what} {value!r} holds characters XML cannot carry")
    return value


def _check_name(name: str) -> str:
    _check_xml_text(name, "domain name")
    if not name.strip() or "/" in name or "\n" in name:
        raise InvalidDomainSpec(f"domain name {name!r} must be non-blank, without '/' or newline")
    return name


def _check_uuid(value: str | uuid_module.UUID) -> str:
    try:
        return str(value if isinstance(value, uuid_module.UUID) else uuid_module.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidDomainSpec(f"uuid {value!r} is not a UUID") from None


def _positive(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidDomainSpec(f"{what} {value!r} must be a positive integer")
    return value


def _nodeset(numa_nodes: Iterable[int]) -> str:
    nodes = sorted(set(numa_nodes))
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in nodes):
        raise InvalidDomainSpec(f"numa_nodes {nodes!r} must be non-negative integers")
    return ",".join(str(node) for node in nodes)


def _check_netdev(name: str, what: str) -> str:
    _check_xml_text(name, what)
    if not _NETDEV_RE.fullmatch(name) or name in (".", ".."):
        raise InvalidDomainSpec(
            f"{what} {name!r} is not a network interface name (1..15 of A-Z a-z 0-9 _ . -)"
        )
    return name


def _check_profileid(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidDomainSpec(f"802.1qbh needs vif_details['profileid']; got {value!r}")
    _check_xml_text(value, "profileid")
    if len(value) > PROFILEID_MAX:
        raise InvalidDomainSpec(f"profileid {value!r} is longer than {PROFILEID_MAX} characters")
    bad = sorted({c for c in value if c in PROFILEID_FORBIDDEN})
    if bad:
        raise InvalidDomainSpec(
            f"profileid {value!r} contains {''.join(bad)!r}: libvirt writes profileid "
            "unescaped and cannot start such a domain"
        )
    return value


def _check_unique(interfaces: Sequence[VifPlug], hostdevs: Sequence[PciPassthrough]) -> None:
    port_ids = [plug.port_id for plug in interfaces]
    macs = [check_mac(plug.mac) for plug in interfaces if plug.form is not PlugForm.PCI_HOSTDEV]
    slots = [plug.pci_slot for plug in interfaces if plug.pci_slot is not None]
    slots += [hostdev.address for hostdev in hostdevs]
    for what, values in (("port id", port_ids), ("MAC", macs), ("PCI address", slots)):
        seen: set[object] = set()
        for value in values:
            if value in seen:
                raise InvalidDomainSpec(f"{what} {value} is plugged twice")
            seen.add(value)
