"""Domain XML rendering: every form validated by libvirt's schema, golden forms, escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.unit.virt.samples import (
    FORMS,
    GPU,
    PF,
    UUID,
    VF1,
    VF2,
    bridge,
    domain,
    physical,
    qbh,
    veb_direct,
    veb_macvtap,
)
from tests.unit.virt.schema import Validate
from vfplane.domain.networks import VifType, VnicType
from vfplane.domain.pci import DeviceType, PciDevice
from vfplane.errors import InvalidDomainSpec
from vfplane.virt.xml import (
    METADATA_NS,
    DomainHostdev,
    DomainInterface,
    PciPassthrough,
    PlugForm,
    VifPlug,
    check_mac,
    hostdevs_of,
    interfaces_of,
    parse_vlan,
    plug_form,
    render_domain,
    render_plug,
)


def xml_of(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


# -- schema validation of every form -----------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_every_form_validates_against_libvirts_schema(form: str, validate: Validate) -> None:
    validate(FORMS[form]())


# -- golden forms -------------------------------------------------------------


def test_hw_veb_direct_is_a_hostdev_interface_with_vlan() -> None:
    assert xml_of(render_plug(veb_direct())) == (
        '<interface type="hostdev" managed="yes"><mac address="52:54:00:00:00:01" />'
        '<source><address type="pci" domain="0x0000" bus="0x0a" slot="0x00" function="0x1" />'
        '</source><vlan><tag id="100" /></vlan></interface>'
    )


@pytest.mark.parametrize("flat", ["0", 0, "", None])
def test_untagged_vlan_writes_no_vlan_element(flat: object) -> None:
    element = render_plug(veb_direct(flat))
    assert [child.tag for child in element] == ["mac", "source"]


def test_hw_veb_macvtap_is_a_direct_passthrough_interface_on_the_vf_netdev() -> None:
    assert xml_of(render_plug(veb_macvtap())) == (
        '<interface type="direct"><mac address="52:54:00:00:00:02" /><model type="virtio" />'
        '<source dev="ens1f0v2" mode="passthrough" /><vlan><tag id="100" /></vlan></interface>'
    )


def test_qbh_direct_has_a_virtualport_and_never_a_vlan() -> None:
    assert xml_of(render_plug(qbh())) == (
        '<interface type="hostdev" managed="yes"><mac address="52:54:00:00:00:03" />'
        '<source><address type="pci" domain="0x0000" bus="0x0a" slot="0x00" function="0x2" />'
        '</source><virtualport type="802.1Qbh"><parameters profileid="finance" />'
        "</virtualport></interface>"
    )


def test_qbh_macvtap_is_a_direct_passthrough_interface_with_a_virtualport() -> None:
    element = render_plug(qbh(VnicType.MACVTAP))
    assert element.attrib == {"type": "direct"}
    assert [child.tag for child in element] == ["mac", "model", "source", "virtualport"]
    assert element.find("source").attrib == {"dev": "ens1f0v3", "mode": "passthrough"}  # type: ignore[union-attr]


def test_hostdev_physical_is_a_pci_hostdev_without_mac_or_vlan() -> None:
    assert xml_of(render_plug(physical())) == (
        '<hostdev mode="subsystem" type="pci" managed="yes"><source>'
        '<address domain="0x0000" bus="0x0b" slot="0x00" function="0x0" /></source></hostdev>'
    )


def test_bridge_is_a_bridge_interface_with_a_virtio_model() -> None:
    assert xml_of(render_plug(bridge())) == (
        '<interface type="bridge"><mac address="52:54:00:00:00:05" />'
        '<source bridge="brq1234abcd-5" /><model type="virtio" /></interface>'
    )


def test_bridge_name_may_come_from_vif_details() -> None:
    plug = VifPlug(
        "p", "52:54:00:00:00:05", VifType.BRIDGE, VnicType.NORMAL, {"bridge_name": "br-int"}
    )
    assert render_plug(plug).find("source").attrib == {"bridge": "br-int"}  # type: ignore[union-attr]


def test_flavor_devices_take_managed_from_the_device_tag() -> None:
    def device(tags: dict[str, str | None]) -> PciDevice:
        return PciDevice(GPU, "10de", "1db4", DeviceType.PCI, tags=tags)

    assert PciPassthrough.of_device(device({})).managed is True
    assert PciPassthrough.of_device(device({"managed": "true"})).managed is True
    assert PciPassthrough.of_device(device({"managed": "false"})).managed is False
    root = ET.fromstring(domain(hostdevs=[PciPassthrough(GPU, managed=False)]))
    hostdev = root.find("./devices/hostdev")
    assert hostdev is not None
    assert hostdev.attrib == {"mode": "subsystem", "type": "pci", "managed": "no"}
    assert hostdev.find("source/address").attrib == {  # type: ignore[union-attr]
        "domain": "0x10000",
        "bus": "0x3b",
        "slot": "0x1f",
        "function": "0x7",
    }


def test_whole_domain_layout() -> None:
    root = ET.fromstring(domain([veb_direct(), physical(), bridge()], [PciPassthrough(GPU)]))
    assert root.attrib == {"type": "kvm"}
    assert [child.tag for child in root] == [
        "name",
        "uuid",
        "metadata",
        "memory",
        "vcpu",
        "numatune",
        "os",
        "features",
        "devices",
    ]
    assert root.findtext("name") == "vm-1"
    assert root.findtext("uuid") == UUID
    assert root.find("memory").attrib == {"unit": "MiB"}  # type: ignore[union-attr]
    assert root.findtext("memory") == "512"
    assert root.findtext("vcpu") == "2"
    assert root.find("os/type").attrib == {"arch": "x86_64", "machine": "q35"}  # type: ignore[union-attr]
    assert root.findtext("os/type") == "hvm"
    assert [(d.tag, d.get("type")) for d in root.find("devices")] == [  # type: ignore[union-attr]
        ("disk", "file"),
        ("interface", "hostdev"),
        ("hostdev", "pci"),
        ("interface", "bridge"),
        ("hostdev", "pci"),
        ("serial", "pty"),
        ("console", "pty"),
    ]
    disk = root.find("devices/disk")
    assert disk is not None
    assert disk.find("driver").attrib == {"name": "qemu", "type": "qcow2"}  # type: ignore[union-attr]
    assert disk.find("source").attrib == {  # type: ignore[union-attr]
        "file": "/var/lib/vfplane/images/vm-1.qcow2"
    }
    assert disk.find("target").attrib == {"dev": "vda", "bus": "virtio"}  # type: ignore[union-attr]


def test_numa_nodes_bind_guest_memory_to_host_nodes() -> None:
    root = ET.fromstring(
        render_domain("v", UUID, 1, 256, "/i.raw", numa_nodes=[1, 0, 1], disk_format="raw")
    )
    assert root.find("numatune/memory").attrib == {"mode": "strict", "nodeset": "0,1"}  # type: ignore[union-attr]
    assert ET.fromstring(render_domain("v", UUID, 1, 256, "/i")).find("numatune") is None
    with pytest.raises(InvalidDomainSpec, match="numa_nodes"):
        render_domain("v", UUID, 1, 256, "/i", numa_nodes=[-1])


# -- VLAN, MAC, profileid rules ----------------------------------------------


@pytest.mark.parametrize(("value", "tag"), [("100", 100), (100, 100), ("1", 1), ("4094", 4094)])
def test_vlan_tags(value: object, tag: int) -> None:
    assert parse_vlan(value) == tag


@pytest.mark.parametrize("value", ["4095", "-1", 5000, "abc", "1.5", True, 2.0, ["1"]])
def test_bad_vlans_are_refused(value: object) -> None:
    with pytest.raises(InvalidDomainSpec, match="vlan"):
        render_plug(veb_direct(value))


def test_macs_are_unicast_and_lower_case() -> None:
    assert check_mac(" 52:54:00:AB:CD:EF ") == "52:54:00:ab:cd:ef"
    for bad in ("01:00:5e:00:00:01", "52:54:00:00:00", "52-54-00-00-00-01", ""):
        with pytest.raises(InvalidDomainSpec, match="MAC"):
            check_mac(bad)


def test_qbh_needs_a_short_profileid() -> None:
    with pytest.raises(InvalidDomainSpec, match="profileid"):
        render_plug(qbh(profileid=None))
    with pytest.raises(InvalidDomainSpec, match="longer than 39"):
        render_plug(qbh(profileid="p" * 40))
    render_plug(qbh(profileid="p" * 39))


@pytest.mark.parametrize("bad", ["a<b", "a&b", "it's"])
def test_profileids_libvirt_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(InvalidDomainSpec, match="libvirt writes profileid unescaped"):
        render_plug(qbh(profileid=bad))


@pytest.mark.parametrize(
    ("vif", "vnic"),
    [
        (VifType.HW_VEB, VnicType.NORMAL),
        (VifType.HW_VEB, VnicType.DIRECT_PHYSICAL),
        (VifType.BRIDGE, VnicType.DIRECT),
        (VifType.UNBOUND, VnicType.DIRECT),
        (VifType.BINDING_FAILED, VnicType.DIRECT),
        (VifType.HOSTDEV_PHYSICAL, VnicType.DIRECT),
    ],
)
def test_pairs_without_a_libvirt_form_are_refused(vif: VifType, vnic: VnicType) -> None:
    with pytest.raises(InvalidDomainSpec, match="has no libvirt form"):
        plug_form(vif, vnic)


def test_every_form_is_reachable() -> None:
    assert {veb_direct().form, veb_macvtap().form, physical().form, bridge().form} == set(PlugForm)


@pytest.mark.parametrize(
    ("plug", "missing"),
    [
        (VifPlug("p", "52:54:00:00:00:01", VifType.HW_VEB, VnicType.DIRECT), "pci_slot"),
        (VifPlug("p", "52:54:00:00:00:01", VifType.HW_VEB, VnicType.MACVTAP), "vf_netdev"),
        (
            VifPlug("p", "52:54:00:00:00:01", VifType.HOSTDEV_PHYSICAL, VnicType.DIRECT_PHYSICAL),
            "pci_slot",
        ),
        (VifPlug("p", "52:54:00:00:00:01", VifType.BRIDGE, VnicType.NORMAL), "bridge"),
    ],
)
def test_missing_device_is_refused(plug: VifPlug, missing: str) -> None:
    with pytest.raises(InvalidDomainSpec, match=missing):
        render_plug(plug)


def test_nothing_is_plugged_twice() -> None:
    other = VifPlug(
        "port-9", "52:54:00:00:00:01", VifType.HW_VEB, VnicType.MACVTAP, vf_netdev="ens1f0v9"
    )
    with pytest.raises(InvalidDomainSpec, match="MAC 52:54:00:00:00:01 is plugged twice"):
        domain([veb_direct(), other])
    with pytest.raises(InvalidDomainSpec, match=r"PCI address 0000:0a:00\.1 is plugged twice"):
        domain([veb_direct()], [PciPassthrough(VF1)])
    with pytest.raises(InvalidDomainSpec, match="port id port-1 is plugged twice"):
        domain(
            [
                veb_direct(),
                VifPlug(
                    "port-1", "52:54:00:00:00:09", VifType.BRIDGE, VnicType.NORMAL, bridge="br0"
                ),
            ]
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"vcpus": 0}, "vcpus"),
        ({"memory_mb": True}, "memory_mb"),
        ({"image_path": "images/vm.qcow2"}, "absolute"),
        ({"disk_format": "vmdk"}, "disk_format"),
        ({"name": "a/b"}, "domain name"),
        ({"name": " "}, "domain name"),
        ({"name": "bell\x07"}, "XML cannot carry"),
    ],
)
def test_bad_domain_arguments_are_refused(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {
        "name": "vm",
        "uuid": UUID,
        "vcpus": 1,
        "memory_mb": 256,
        "image_path": "/i.qcow2",
    }
    with pytest.raises(InvalidDomainSpec, match=match):
        render_domain(**(arguments | kwargs))  # type: ignore[arg-type]


# -- escaping: hostile values stay data ----------------------------------------

HOSTILE_NAME = '<evil>&amp; it\'s "quoted" <!-- x --> ]]>'


def test_hostile_domain_name_stays_data(validate: Validate) -> None:
    document = domain([veb_direct()], name=HOSTILE_NAME)
    validate(document)
    root = ET.fromstring(document)
    assert root.findtext("name") == HOSTILE_NAME
    assert root.find(".//evil") is None
    assert "<evil>" not in document


def test_hostile_profileid_with_quotes_and_angle_bracket_stays_data(validate: Validate) -> None:
    hostile = '"x" evil="1">'
    document = domain([qbh(profileid=hostile)])
    validate(document)
    root = ET.fromstring(document)
    assert root.find(".//virtualport/parameters").get("profileid") == hostile  # type: ignore[union-attr]
    assert root.find(".//evil") is None
    assert interfaces_of(document)[0].profileid == hostile


@pytest.mark.parametrize("mac", ['52:54:00:00:00:01"/><evil', "52:54:00:00:00:01' x='", "<m/>"])
def test_hostile_macs_are_refused_not_written(mac: str) -> None:
    plug = VifPlug("p", mac, VifType.HW_VEB, VnicType.DIRECT, pci_slot=VF1)
    with pytest.raises(InvalidDomainSpec, match="MAC"):
        domain([plug])


def test_hostile_port_id_stays_data(validate: Validate) -> None:
    port_id = 'p"/><vfplane:port id="spoof'
    plug = VifPlug(
        port_id,
        "52:54:00:00:00:02",
        VifType.HW_VEB,
        VnicType.MACVTAP,
        {"vlan": "7"},
        vf_netdev="ens1f0v2",
    )
    document = domain([plug])
    validate(document)
    [interface] = interfaces_of(document)
    assert interface.port_id == port_id
    ports = ET.fromstring(document).findall(f".//{{{METADATA_NS}}}port")
    assert [port.get("id") for port in ports] == [port_id]


@pytest.mark.parametrize(
    "netdev", ["a/b", "a b", "a:b", "x" * 16, "", "..", "tab\t", "v<'\"&>", "ens1f0v2\n"]
)
def test_netdev_and_bridge_names_follow_kernel_and_schema(netdev: str) -> None:
    macvtap = VifPlug("p", "52:54:00:00:00:02", VifType.HW_VEB, VnicType.MACVTAP, vf_netdev=netdev)
    on_bridge = VifPlug("p", "52:54:00:00:00:02", VifType.BRIDGE, VnicType.NORMAL, bridge=netdev)
    for plug in (macvtap, on_bridge):
        with pytest.raises(InvalidDomainSpec):
            render_plug(plug)


# -- round trip ---------------------------------------------------------------


def test_round_trip_of_every_form() -> None:
    qbh_macvtap = VifPlug(
        "port-6",
        "52:54:00:00:00:06",
        VifType.QBH,
        VnicType.MACVTAP,
        {"profileid": "p2"},
        vf_netdev="ens1f0v6",
    )
    document = domain(
        [veb_direct(), veb_macvtap("0"), qbh(), qbh_macvtap, physical(), bridge()],
        [PciPassthrough(GPU, managed=False)],
    )
    assert interfaces_of(document) == [
        DomainInterface(
            "hostdev", "52:54:00:00:00:01", "port-1", managed=True, pci_address=VF1, vlan=100
        ),
        DomainInterface(
            "direct",
            "52:54:00:00:00:02",
            "port-2",
            source_dev="ens1f0v2",
            source_mode="passthrough",
            model="virtio",
        ),
        DomainInterface(
            "hostdev",
            "52:54:00:00:00:03",
            "port-3",
            managed=True,
            pci_address=VF2,
            virtualport="802.1Qbh",
            profileid="finance",
        ),
        DomainInterface(
            "direct",
            "52:54:00:00:00:06",
            "port-6",
            source_dev="ens1f0v6",
            source_mode="passthrough",
            model="virtio",
            virtualport="802.1Qbh",
            profileid="p2",
        ),
        DomainInterface(
            "bridge", "52:54:00:00:00:05", "port-5", bridge="brq1234abcd-5", model="virtio"
        ),
    ]
    assert hostdevs_of(document) == [
        DomainHostdev(PF, managed=True, port_id="port-4"),
        DomainHostdev(GPU, managed=False, port_id=None),
    ]


def test_parsing_reads_decimal_addresses_and_foreign_documents() -> None:
    document = (
        "<domain type='kvm'><name>x</name><devices>"
        "<interface type='hostdev'><mac address='52:54:00:00:00:01'/><source>"
        "<address type='pci' domain='0' bus='10' slot='0' function='1'/></source></interface>"
        "<hostdev mode='subsystem' type='usb'/></devices></domain>"
    )
    [interface] = interfaces_of(document)
    assert interface.pci_address == VF1
    assert interface.port_id is None
    assert interface.managed is None
    assert hostdevs_of(document) == []


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ("<<", "not an XML document"),
        ("<network/>", "not <domain>"),
        (
            "<domain><devices><interface type='hostdev'><source><address domain='0' bus='0x100' "
            "slot='0' function='0'/></source></interface></devices></domain>",
            "PCI address",
        ),
        (
            "<domain><devices><interface type='direct'><vlan><tag id='x'/></vlan></interface>"
            "</devices></domain>",
            "VLAN",
        ),
    ],
)
def test_parsing_refuses_what_is_not_a_domain(document: str, match: str) -> None:
    with pytest.raises(InvalidDomainSpec, match=match):
        interfaces_of(document)
