"""The fake's hot-plug (``hotplug=True``, qemu-like) and its ACPI knob; the rest of its
contract is checked against libvirt's test driver in tests/host."""

from __future__ import annotations

import pytest

from tests.unit.virt.fake_hypervisor import FakeHypervisor
from tests.unit.virt.samples import bridge, domain, physical, veb_direct
from vfplane.errors import DomainNotFound, HotplugUnsupported, HypervisorError
from vfplane.virt.xml import (
    METADATA_KEY,
    METADATA_NS,
    device_xml,
    domain_generation,
    hostdevs_of,
    interfaces_of,
    render_plug_xml,
)


@pytest.fixture
def fake() -> FakeHypervisor:
    hypervisor = FakeHypervisor(hotplug=True)
    hypervisor.define_and_start(domain([veb_direct()]))
    return hypervisor


def test_attach_and_detach_edit_the_domain(fake: FakeHypervisor) -> None:
    fake.attach_device("vm-1", render_plug_xml(bridge()))
    fake.attach_device("vm-1", render_plug_xml(physical()))
    xml = fake.domain_xml("vm-1") or ""
    assert [i.mac for i in interfaces_of(xml)] == ["52:54:00:00:00:01", "52:54:00:00:00:05"]
    assert [h.port_id for h in hostdevs_of(xml)] == [None]  # not named until the metadata says
    fake.detach_device("vm-1", device_xml(xml, "port-1") or "")
    assert [i.mac for i in interfaces_of(fake.domain_xml("vm-1") or "")] == ["52:54:00:00:00:05"]
    assert [op for op, _ in fake.calls] == ["start", "attach", "attach", "detach"]


def test_the_same_device_is_not_attached_twice(fake: FakeHypervisor) -> None:
    with pytest.raises(HypervisorError, match="already has the device mac 52:54:00:00:00:01"):
        fake.attach_device("vm-1", render_plug_xml(veb_direct()))
    with pytest.raises(HypervisorError, match="has no device"):
        fake.detach_device("vm-1", render_plug_xml(bridge()))


def test_hot_plug_needs_a_running_domain(fake: FakeHypervisor) -> None:
    fake.destroy("vm-1")
    with pytest.raises(HypervisorError, match="not running"):
        fake.attach_device("vm-1", render_plug_xml(bridge()))
    with pytest.raises(DomainNotFound):
        fake.attach_device("vm-2", render_plug_xml(bridge()))


def test_without_hotplug_the_fake_says_so() -> None:
    fake = FakeHypervisor()
    fake.define_and_start(domain([veb_direct()]))
    with pytest.raises(HotplugUnsupported, match="fake:// cannot hot-plug"):
        fake.attach_device("vm-1", render_plug_xml(bridge()))
    with pytest.raises(HotplugUnsupported):
        fake.detach_device("vm-1", render_plug_xml(veb_direct()))


def test_set_metadata_replaces_ours_as_libvirt_does(fake: FakeHypervisor) -> None:
    fake.attach_device("vm-1", render_plug_xml(bridge()))
    element = '<instance generation="2"><port id="p5" mac="52:54:00:00:00:05"/></instance>'
    fake.set_metadata("vm-1", METADATA_NS, METADATA_KEY, element)
    xml = fake.domain_xml("vm-1") or ""
    assert domain_generation(xml) == 2
    assert [i.port_id for i in interfaces_of(xml)] == [None, "p5"]
    with pytest.raises(DomainNotFound):
        fake.set_metadata("vm-2", METADATA_NS, METADATA_KEY, element)


def test_a_guest_that_ignores_acpi_is_destroyed() -> None:
    fake = FakeHypervisor(acpi=False)
    fake.define_and_start(domain())
    assert fake.shutdown("vm-1", 1.0) is False
    assert not fake.is_running("vm-1")
    assert fake.calls == [("start", "vm-1"), ("shutdown", "vm-1"), ("destroy", "vm-1")]
