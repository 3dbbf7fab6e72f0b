"""vfplane's metadata: the boot generation, port naming, and reading devices back for hot-plug."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.unit.virt.samples import UUID, bridge, domain, physical, veb_direct, veb_macvtap
from tests.unit.virt.schema import Validate
from vfplane.errors import InvalidDomainSpec
from vfplane.virt.metadata import MetadataPort, instance_xml
from vfplane.virt.xml import (
    METADATA_NS,
    device_xml,
    domain_generation,
    interfaces_of,
    metadata_port,
    plugged_port_ids,
    refreshed_metadata,
    render_domain,
    render_plug_xml,
)

IMAGE = "/var/lib/vfplane/images/vm-1.qcow2"
# What libvirt's dumpxml looks like: single quotes, an id, its own additions, our metadata.
DUMPXML = f"""<domain type='kvm' id='7'>
  <name>vm-1</name>
  <uuid>{UUID}</uuid>
  <metadata>
    <vfplane:instance xmlns:vfplane="{METADATA_NS}" generation="4">
      <vfplane:port id="port-1" mac="52:54:00:00:00:01"/>
    </vfplane:instance>
  </metadata>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:00:00:01'/>
      <source bridge='br0'/>
      <target dev='vnet0'/>
      <alias name='net0'/>
    </interface>
  </devices>
</domain>
"""


def _instance(document: str) -> ET.Element:
    found = ET.fromstring(document).find(f"metadata/{{{METADATA_NS}}}instance")
    assert found is not None
    return found


def test_the_generation_is_an_attribute_of_our_instance_element(validate: Validate) -> None:
    document = render_domain("vm-1", UUID, 1, 256, IMAGE, [veb_direct()], generation=3)
    validate(document)
    assert _instance(document).get("generation") == "3"
    assert domain_generation(document) == 3
    assert domain_generation(domain()) == 0  # the default


def test_the_generation_is_read_from_libvirts_dumpxml() -> None:
    assert domain_generation(DUMPXML) == 4
    assert interfaces_of(DUMPXML)[0].port_id == "port-1"


def test_a_document_without_our_metadata_has_generation_zero() -> None:
    assert domain_generation(f"<domain type='kvm'><name>x</name><uuid>{UUID}</uuid></domain>") == 0
    old = domain().replace(' generation="0"', "")  # written before generations existed
    assert 'generation="' not in old
    assert domain_generation(old) == 0


@pytest.mark.parametrize("bad", ["-1", "x", ""])
def test_a_bad_generation_in_a_document_is_an_error(bad: str) -> None:
    document = DUMPXML.replace('generation="4"', f'generation="{bad}"')
    with pytest.raises(InvalidDomainSpec, match="bad generation"):
        domain_generation(document)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "2"])
def test_render_refuses_a_bad_generation(bad: object) -> None:
    with pytest.raises(InvalidDomainSpec, match="generation"):
        render_domain("vm-1", UUID, 1, 256, IMAGE, generation=bad)  # type: ignore[arg-type]


def test_plugged_port_ids_name_interfaces_and_pf_hostdevs() -> None:
    assert plugged_port_ids(domain([veb_direct(), physical(), bridge()])) == {
        "port-1",
        "port-4",
        "port-5",
    }
    assert plugged_port_ids(domain()) == set()
    assert plugged_port_ids(DUMPXML) == {"port-1"}


def test_a_device_the_metadata_does_not_name_is_not_plugged_as_a_port() -> None:
    unnamed = DUMPXML.replace('mac="52:54:00:00:00:01"', 'mac="52:54:00:00:00:09"')
    assert plugged_port_ids(unnamed) == set()


def test_device_xml_is_the_element_to_detach() -> None:
    element = device_xml(DUMPXML, "port-1")
    assert element is not None
    parsed = ET.fromstring(element)
    assert parsed.tag == "interface"
    assert parsed.find("mac").get("address") == "52:54:00:00:00:01"  # type: ignore[union-attr]
    assert parsed.find("alias") is not None  # as libvirt has it
    assert not element.endswith("\n")
    hostdev = device_xml(domain([physical()]), "port-4")
    assert hostdev is not None
    assert ET.fromstring(hostdev).tag == "hostdev"
    assert device_xml(DUMPXML, "port-9") is None


def test_render_plug_xml_is_the_element_to_attach(validate: Validate) -> None:
    element = render_plug_xml(veb_macvtap())
    assert ET.fromstring(element).tag == "interface"
    validate(domain([veb_macvtap()]))
    assert element in domain([veb_macvtap()]).replace("\n", "").replace("  ", "")


def test_instance_xml_is_the_set_metadata_form() -> None:
    ports = [
        MetadataPort("p1", "mac", "52:54:00:00:00:01"),
        MetadataPort("p4", "pci", "0000:0b:00.0"),
    ]
    element = ET.fromstring(instance_xml(ports, 2))
    assert (element.tag, element.attrib) == ("instance", {"generation": "2"})
    assert [port.attrib for port in element] == [
        {"id": "p1", "mac": "52:54:00:00:00:01"},
        {"id": "p4", "pci": "0000:0b:00.0"},
    ]


def test_refreshed_metadata_names_what_is_plugged_now() -> None:
    before = domain([veb_direct()])
    # the live domain after a hot-plug of port-5: the new device, the old metadata
    live = before.replace("</devices>", render_plug_xml(bridge()) + "</devices>")
    assert plugged_port_ids(live) == {"port-1"}
    element = ET.fromstring(refreshed_metadata(live, [metadata_port(bridge())]))
    assert element.get("generation") == "0"
    assert [(p.get("id"), p.get("mac")) for p in element] == [
        ("port-1", "52:54:00:00:00:01"),
        ("port-5", "52:54:00:00:00:05"),
    ]


def test_refreshed_metadata_drops_detached_ports_and_keeps_the_generation() -> None:
    live = render_domain("vm-1", UUID, 1, 256, IMAGE, [veb_direct()], generation=5)
    live_without = live.replace(device_xml(live, "port-1") or "?", "")
    assert interfaces_of(live_without) == []
    element = ET.fromstring(refreshed_metadata(live_without))
    assert (element.get("generation"), list(element)) == ("5", [])
