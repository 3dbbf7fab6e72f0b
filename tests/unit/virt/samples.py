"""Sample plugs and whole domains, one per libvirt form, shared by the virt tests."""

from __future__ import annotations

from collections.abc import Callable

from vfplane.domain.networks import VifType, VnicType
from vfplane.domain.pci import PciAddress
from vfplane.virt.xml import PciPassthrough, VifPlug, render_domain

UUID = "6f2b6a2e-4c4e-4f0e-9d2a-0d6c1c1f6c11"
VF1 = PciAddress.parse("0000:0a:00.1")
VF2 = PciAddress.parse("0000:0a:00.2")
PF = PciAddress.parse("0000:0b:00.0")
GPU = PciAddress.parse("10000:3b:1f.7")


def veb_direct(vlan: object = "100") -> VifPlug:
    return VifPlug(
        "port-1",
        "52:54:00:00:00:01",
        VifType.HW_VEB,
        VnicType.DIRECT,
        {"vlan": vlan, "port_filter": False},
        pci_slot=VF1,
    )


def veb_macvtap(vlan: object = "100") -> VifPlug:
    return VifPlug(
        "port-2",
        "52:54:00:00:00:02",
        VifType.HW_VEB,
        VnicType.MACVTAP,
        {"vlan": vlan},
        vf_netdev="ens1f0v2",
    )


def qbh(vnic: VnicType = VnicType.DIRECT, profileid: object = "finance") -> VifPlug:
    return VifPlug(
        "port-3",
        "52:54:00:00:00:03",
        VifType.QBH,
        vnic,
        {"profileid": profileid, "vlan": "200"},
        pci_slot=VF2,
        vf_netdev="ens1f0v3",
    )


def physical() -> VifPlug:
    return VifPlug(
        "port-4",
        "52:54:00:00:00:04",
        VifType.HOSTDEV_PHYSICAL,
        VnicType.DIRECT_PHYSICAL,
        {},
        pci_slot=PF,
    )


def bridge(name: str | None = "brq1234abcd-5") -> VifPlug:
    return VifPlug(
        "port-5",
        "52:54:00:00:00:05",
        VifType.BRIDGE,
        VnicType.NORMAL,
        {"port_filter": True},
        bridge=name,
    )


def domain(
    interfaces: list[VifPlug] | None = None,
    hostdevs: list[PciPassthrough] | None = None,
    name: str = "vm-1",
    uuid: str = UUID,
) -> str:
    """A whole domain with the given devices, bound to host NUMA node 0."""
    return render_domain(
        name,
        uuid,
        2,
        512,
        "/var/lib/vfplane/images/vm-1.qcow2",
        interfaces or [],
        hostdevs or [],
        [0],
    )


FORMS: dict[str, Callable[[], str]] = {
    "hw_veb+direct": lambda: domain([veb_direct()]),
    "hw_veb+direct flat": lambda: domain([veb_direct("0")]),
    "hw_veb+macvtap": lambda: domain([veb_macvtap()]),
    "hw_veb+macvtap flat": lambda: domain([veb_macvtap(None)]),
    "802.1qbh+direct": lambda: domain([qbh()]),
    "802.1qbh+macvtap": lambda: domain([qbh(VnicType.MACVTAP)]),
    "hostdev_physical": lambda: domain([physical()]),
    "bridge": lambda: domain([bridge()]),
    "flavor managed": lambda: domain(hostdevs=[PciPassthrough(GPU)]),
    "flavor unmanaged": lambda: domain(hostdevs=[PciPassthrough(GPU, managed=False)]),
    "no devices": lambda: domain(),
    "all at once": lambda: domain(
        [veb_direct(), veb_macvtap(), qbh(), physical(), bridge()],
        [PciPassthrough(GPU, managed=False)],
    ),
}
