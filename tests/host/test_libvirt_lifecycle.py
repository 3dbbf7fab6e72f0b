"""Stop, start, reboot and re-plug on libvirt's test driver (and the fake, for the contract).

The test driver shuts guests down at once, reboots and keeps metadata, but has
no hot-plug (``virDomainAttachDeviceFlags`` is "not supported"), so the
reconciler's interface changes take the restart path here, and say so.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.virt.samples import UUID, bridge, domain, physical, veb_direct
from tests.unit.virt.schema import Validate
from vfplane.agent.domains import DomainReconciler, domain_name
from vfplane.errors import DomainNotFound, HotplugUnsupported
from vfplane.host.hypervisor import Hypervisor, LibvirtHypervisor
from vfplane.virt.xml import (
    METADATA_KEY,
    METADATA_NS,
    device_xml,
    domain_generation,
    interfaces_of,
    plugged_port_ids,
    render_domain,
    render_plug_xml,
)

SERVER_ID = "0d1c6b0e-5b8f-4f0a-8a34-52d7c1f00003"
NAME = domain_name(SERVER_ID)


def _domain_id(hypervisor: LibvirtHypervisor, name: str) -> int:
    """libvirt's runtime id: a new one for every start."""
    return int(hypervisor._conn.lookupByName(name).ID())


# -- the adapter contract -------------------------------------------------------------


def test_shutdown_keeps_the_definition(hypervisor: Hypervisor) -> None:
    hypervisor.define_and_start(domain([veb_direct()]))
    assert hypervisor.shutdown("vm-1", 5.0) is True
    assert not hypervisor.is_running("vm-1")
    assert hypervisor.list_domains() == ["vm-1"]
    assert interfaces_of(hypervisor.domain_xml("vm-1") or "")[0].port_id == "port-1"
    assert hypervisor.shutdown("vm-1", 5.0) is True  # not running: nothing to do
    assert hypervisor.shutdown("never-existed", 5.0) is True
    hypervisor.define_and_start(domain([veb_direct()]))
    assert hypervisor.is_running("vm-1")


def test_destroy_keeps_the_definition(hypervisor: Hypervisor) -> None:
    hypervisor.define_and_start(domain([bridge()]))
    hypervisor.destroy("vm-1")
    assert not hypervisor.is_running("vm-1")
    assert hypervisor.domain_xml("vm-1") is not None
    hypervisor.destroy("vm-1")
    hypervisor.destroy("never-existed")
    hypervisor.define_and_start(domain([bridge()]))
    assert hypervisor.is_running("vm-1")


def test_hot_plug_is_unsupported_and_changes_nothing(hypervisor: Hypervisor) -> None:
    before = hypervisor.define_and_start(domain([veb_direct()]))
    with pytest.raises(HotplugUnsupported, match="cannot hot-plug") as caught:
        hypervisor.attach_device("vm-1", render_plug_xml(bridge()))
    if isinstance(hypervisor, LibvirtHypervisor):
        assert "virDomainAttachDeviceFlags" in str(caught.value)
        assert caught.value.code is not None
    with pytest.raises(HotplugUnsupported):
        hypervisor.detach_device("vm-1", device_xml(before, "port-1") or "")
    assert hypervisor.domain_xml("vm-1") == before
    with pytest.raises(DomainNotFound):
        hypervisor.attach_device("never-existed", render_plug_xml(bridge()))


def test_set_metadata_names_ports_and_survives_dumpxml(hypervisor: Hypervisor) -> None:
    hypervisor.define_and_start(domain([veb_direct(), physical()]))
    element = (
        '<instance generation="7"><port id="renamed" mac="52:54:00:00:00:01"/>'
        '<port id="pf" pci="0000:0b:00.0"/></instance>'
    )
    hypervisor.set_metadata("vm-1", METADATA_NS, METADATA_KEY, element)
    xml = hypervisor.domain_xml("vm-1") or ""
    assert domain_generation(xml) == 7
    assert plugged_port_ids(xml) == {"renamed", "pf"}
    hypervisor.destroy("vm-1")  # the persistent definition has it too
    assert domain_generation(hypervisor.domain_xml("vm-1") or "") == 7
    with pytest.raises(DomainNotFound):
        hypervisor.set_metadata("never-existed", METADATA_NS, METADATA_KEY, element)


def test_the_generation_survives_libvirts_dumpxml(libvirt_hv: LibvirtHypervisor) -> None:
    document = render_domain(
        "vm-1", UUID, 1, 256, "/var/lib/vfplane/images/a.qcow2", [veb_direct()], generation=3
    )
    dumped = libvirt_hv.define_and_start(document)
    assert dumped != document
    assert domain_generation(dumped) == 3
    assert interfaces_of(dumped)[0].port_id == "port-1"
    libvirt_hv.shutdown("vm-1", 5.0)
    assert domain_generation(libvirt_hv.domain_xml("vm-1") or "") == 3


# -- the reconciler on libvirt ----------------------------------------------------------


def _server(**changes: Any) -> dict[str, Any]:
    port = {"port_id": "p1", "mac_address": "fa:16:3e:00:00:01", "vif_type": "hw_veb",
            "vnic_type": "direct", "vif_details": {"vlan": "100"},
            "pci_slot": "0000:3b:02.1"}  # fmt: skip
    base = {"id": SERVER_ID, "name": "vm", "vcpus": 2, "memory_mb": 512,
            "image_location": "/var/lib/vfplane/images/cirros.qcow2", "running": True,
            "interfaces": [port], "hostdevs": [], "generation": 0, "numa_nodes": [1]}  # fmt: skip
    return {**base, **changes}


def _converge(reconciler: DomainReconciler, server: dict[str, Any]) -> Any:
    [report] = reconciler.converge([server], [])
    return report


@pytest.mark.parametrize("kind", ["SOFT", "HARD"])
def test_a_reboot_stops_and_starts_the_domain_with_new_xml(
    libvirt_hv: LibvirtHypervisor, kind: str, validate: Validate
) -> None:
    reconciler = DomainReconciler(libvirt_hv, shutdown_timeout=5)
    assert _converge(reconciler, _server()).state == "running"
    first_id = _domain_id(libvirt_hv, NAME)
    report = _converge(reconciler, _server(generation=1, reboot=kind, memory_mb=1024))
    assert (report.state, report.message) == ("running", f"rebooted ({kind})")
    assert _domain_id(libvirt_hv, NAME) != first_id  # stopped and started again
    assert report.xml == libvirt_hv.domain_xml(NAME)
    assert domain_generation(report.xml) == 1
    assert "<memory unit='KiB'>1048576</memory>" in report.xml
    validate(report.xml)
    rebooted_id = _domain_id(libvirt_hv, NAME)
    again = _converge(reconciler, _server(generation=1, reboot=kind, memory_mb=1024))
    assert (again.message, _domain_id(libvirt_hv, NAME)) == ("", rebooted_id)


def test_stop_and_start_keep_the_definition(libvirt_hv: LibvirtHypervisor) -> None:
    reconciler = DomainReconciler(libvirt_hv, shutdown_timeout=5)
    _converge(reconciler, _server())
    stopped = _converge(reconciler, _server(running=False))
    assert (stopped.state, stopped.message) == ("shutoff", "shut down")
    assert not libvirt_hv.is_running(NAME)
    assert libvirt_hv.list_domains() == [NAME]
    assert plugged_port_ids(stopped.xml) == {"p1"}
    started = _converge(reconciler, _server())
    assert (started.state, started.message) == ("running", "started")
    assert libvirt_hv.is_running(NAME)


def test_an_added_interface_restarts_the_domain_and_says_so(
    libvirt_hv: LibvirtHypervisor, uri: str, validate: Validate
) -> None:
    reconciler = DomainReconciler(libvirt_hv, shutdown_timeout=5)
    booted = _server()
    _converge(reconciler, booted)
    first_id = _domain_id(libvirt_hv, NAME)
    added = {"port_id": "p2", "mac_address": "fa:16:3e:00:00:02", "vif_type": "bridge",
             "vnic_type": "normal", "vif_details": {}, "pci_slot": None}  # fmt: skip
    report = _converge(reconciler, _server(interfaces=[*booted["interfaces"], added]))
    assert report.state == "running"
    assert report.message == (
        f"interfaces changed by restarting the domain ({uri} cannot hot-plug: this function is "
        "not supported by the connection driver: virDomainAttachDeviceFlags): +p2"
    )
    assert _domain_id(libvirt_hv, NAME) != first_id
    dumped = libvirt_hv.domain_xml(NAME) or ""
    assert report.xml == dumped
    validate(dumped)
    assert [(i.type, i.mac, i.port_id) for i in interfaces_of(dumped)] == [
        ("hostdev", "fa:16:3e:00:00:01", "p1"),
        ("bridge", "fa:16:3e:00:00:02", "p2"),
    ]
    removed = _converge(reconciler, _server(interfaces=[added]))
    assert removed.message.startswith("interfaces changed by restarting the domain (")
    assert removed.message.endswith("virDomainDetachDeviceFlags): -p1")
    assert plugged_port_ids(removed.xml) == {"p2"}
