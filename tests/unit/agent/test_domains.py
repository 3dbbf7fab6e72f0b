"""DomainReconciler against the in-memory FakeHypervisor: every lifecycle branch."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.unit.virt.fake_hypervisor import FakeHypervisor
from tests.unit.virt.schema import Validate
from vfplane.agent.domains import DomainReconciler, DomainReport, _plug, domain_name, render
from vfplane.virt.xml import domain_generation, interfaces_of, plugged_port_ids, render_plug_xml

SERVER_ID = "6f2b6a2e-4c4e-4f0e-9d2a-0d6c1c1f6c11"
OTHER_ID = "0d1c6b0e-5b8f-4f0a-8a34-52d7c1f00002"
NAME = domain_name(SERVER_ID)


def iface(port_id: str, mac: str, slot: str | None = None) -> dict[str, Any]:
    """A bound port: hw_veb direct on ``slot``, else a Linux-bridge port."""
    if slot is None:
        return {"port_id": port_id, "mac_address": mac, "vif_type": "bridge",
                "vnic_type": "normal", "vif_details": {}, "pci_slot": None}  # fmt: skip
    return {"port_id": port_id, "mac_address": mac, "vif_type": "hw_veb", "vnic_type": "direct",
            "vif_details": {"vlan": "100"}, "pci_slot": slot}  # fmt: skip


P1 = iface("p1", "fa:16:3e:00:00:01", "0000:3b:02.1")
P2 = iface("p2", "fa:16:3e:00:00:02")
P3 = iface("p3", "fa:16:3e:00:00:03", "0000:3b:02.2")


def server(**changes: Any) -> dict[str, Any]:
    base = {"id": SERVER_ID, "name": "vm", "vcpus": 2, "memory_mb": 512,
            "image_location": "/var/lib/vfplane/images/cirros.qcow2", "running": True,
            "interfaces": [P1], "hostdevs": [], "generation": 0, "reboot": "HARD",
            "numa_nodes": [0]}  # fmt: skip
    return {**base, **changes}


def converge(fake: FakeHypervisor, *servers: dict[str, Any]) -> list[DomainReport]:
    return DomainReconciler(fake, shutdown_timeout=5).converge(list(servers), [])


def one(fake: FakeHypervisor, desired: dict[str, Any]) -> DomainReport:
    [report] = converge(fake, desired)
    return report


@pytest.fixture
def booted() -> FakeHypervisor:
    """A fake (no hot-plug) already running the server with P1."""
    fake = FakeHypervisor()
    assert one(fake, server()).state == "running"
    fake.calls.clear()
    return fake


@pytest.fixture
def booted_hotplug() -> FakeHypervisor:
    fake = FakeHypervisor(hotplug=True)
    assert one(fake, server()).state == "running"
    fake.calls.clear()
    return fake


# -- start and stop -------------------------------------------------------------------


def test_an_absent_server_is_rendered_and_started(validate: Validate) -> None:
    fake = FakeHypervisor()
    report = one(fake, server(generation=2))
    assert (report.state, report.message) == ("running", "")
    assert report.xml == fake.domain_xml(NAME)
    assert report.xml is not None
    validate(report.xml)
    assert domain_generation(report.xml) == 2
    assert plugged_port_ids(report.xml) == {"p1"}
    assert ET.fromstring(report.xml).find("numatune/memory").get("nodeset") == "0"  # type: ignore[union-attr]
    assert fake.calls == [("start", NAME)]


def test_a_running_server_as_desired_is_left_alone(booted: FakeHypervisor) -> None:
    report = one(booted, server())
    assert (report.state, report.message) == ("running", "")
    assert report.xml == booted.domain_xml(NAME)
    assert booted.calls == []


def test_a_stopped_server_is_shut_down_and_keeps_its_definition(booted: FakeHypervisor) -> None:
    report = one(booted, server(running=False))
    assert (report.state, report.message) == ("shutoff", "shut down")
    assert report.xml == booted.domain_xml(NAME)
    assert report.xml is not None
    assert booted.list_domains() == [NAME]
    assert not booted.is_running(NAME)
    assert booted.calls == [("shutdown", NAME)]
    again = one(booted, server(running=False))
    assert (again.state, again.message, again.xml) == ("shutoff", "", report.xml)
    assert booted.calls == [("shutdown", NAME)]


def test_a_guest_ignoring_acpi_is_destroyed_and_the_report_says_so() -> None:
    fake = FakeHypervisor(acpi=False)
    one(fake, server())
    report = one(fake, server(running=False))
    assert report.state == "shutoff"
    assert report.message == "destroyed: the guest did not shut down within 5 s"


def test_a_server_never_started_and_not_wanted_running_stays_absent() -> None:
    fake = FakeHypervisor()
    report = one(fake, server(running=False))
    assert (report.state, report.message, report.xml) == ("shutoff", "", None)
    assert fake.list_domains() == []
    assert fake.calls == []


def test_a_stopped_server_is_started_again_with_fresh_xml(booted: FakeHypervisor) -> None:
    one(booted, server(running=False))
    report = one(booted, server(memory_mb=1024))
    assert (report.state, report.message) == ("running", "started")
    assert report.xml is not None
    assert ET.fromstring(report.xml).findtext("memory") == "1024"
    assert booted.calls == [("shutdown", NAME), ("start", NAME)]


# -- reboot ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "stop"), [("SOFT", "shutdown"), ("HARD", "destroy")])
def test_a_higher_generation_reboots_with_fresh_xml(
    booted: FakeHypervisor, kind: str, stop: str
) -> None:
    report = one(booted, server(generation=1, reboot=kind, interfaces=[P1, P2]))
    assert (report.state, report.message) == ("running", f"rebooted ({kind})")
    assert report.xml is not None
    assert domain_generation(report.xml) == 1
    assert plugged_port_ids(report.xml) == {"p1", "p2"}  # the reboot's XML is freshly rendered
    assert booted.calls == [(stop, NAME), ("start", NAME)]
    assert one(booted, server(generation=1, reboot=kind, interfaces=[P1, P2])).message == ""


def test_a_reboot_without_a_type_is_hard(booted: FakeHypervisor) -> None:
    desired = server(generation=1)
    del desired["reboot"]
    assert one(booted, desired).message == "rebooted (HARD)"
    assert booted.calls == [("destroy", NAME), ("start", NAME)]


def test_a_soft_reboot_of_a_guest_ignoring_acpi_says_it_was_destroyed() -> None:
    fake = FakeHypervisor(acpi=False)
    one(fake, server())
    report = one(fake, server(generation=1, reboot="SOFT"))
    assert report.message == "rebooted (SOFT); the guest did not shut down within 5 s"
    assert fake.is_running(NAME)


def test_an_unknown_reboot_type_is_an_error_and_the_guest_keeps_running(
    booted: FakeHypervisor,
) -> None:
    report = one(booted, server(generation=1, reboot="GENTLE"))
    assert report.state == "error"
    assert "GENTLE" in report.message
    assert booted.is_running(NAME)
    assert booted.calls == []


def test_a_lower_or_equal_generation_does_not_reboot(booted: FakeHypervisor) -> None:
    one(booted, server(generation=3))
    booted.calls.clear()
    assert one(booted, server(generation=2)).message == ""
    assert one(booted, server(generation=None)).message == ""  # missing counts as 0
    assert booted.calls == []


# -- interfaces -----------------------------------------------------------------------


def test_hot_plug_attaches_and_detaches_and_names_the_ports(
    booted_hotplug: FakeHypervisor,
) -> None:
    fake = booted_hotplug
    report = one(fake, server(interfaces=[P2, P3]))
    assert (report.state, report.message) == (
        "running",
        "interfaces changed by hot-plug: +p2 +p3 -p1",
    )
    assert report.xml == fake.domain_xml(NAME)
    assert report.xml is not None
    assert [i.port_id for i in interfaces_of(report.xml)] == ["p2", "p3"]
    ops = [op for op, _ in fake.calls]
    assert ops == ["detach", "attach", "attach", "set_metadata"]
    assert one(fake, server(interfaces=[P2, P3])).message == ""  # converged: nothing more to do
    assert fake.calls[-1] == ("set_metadata", NAME)


def test_a_port_replaced_by_one_with_the_same_mac_is_detached_first(
    booted_hotplug: FakeHypervisor,
) -> None:
    successor = {**P1, "port_id": "p1b"}
    report = one(booted_hotplug, server(interfaces=[successor]))
    assert report.message == "interfaces changed by hot-plug: +p1b -p1"
    assert plugged_port_ids(report.xml or "") == {"p1b"}


def test_without_hot_plug_the_domain_is_restarted_and_the_report_says_why(
    booted: FakeHypervisor, validate: Validate
) -> None:
    report = one(booted, server(interfaces=[P1, P2]))
    assert report.state == "running"
    assert report.message == (
        "interfaces changed by restarting the domain (fake:// cannot hot-plug: no attach "
        "in this fake): +p2"
    )
    assert booted.calls == [("destroy", NAME), ("start", NAME)]
    assert report.xml is not None
    validate(report.xml)
    assert [i.port_id for i in interfaces_of(report.xml)] == ["p1", "p2"]


def test_a_detach_without_hot_plug_restarts_too(booted: FakeHypervisor) -> None:
    one(booted, server(generation=0, interfaces=[P1, P2]))
    booted.calls.clear()
    report = one(booted, server(interfaces=[P2]))
    assert report.message.startswith("interfaces changed by restarting the domain (fake://")
    assert report.message.endswith("): -p1")
    assert plugged_port_ids(report.xml or "") == {"p2"}


def test_a_failed_hot_plug_is_an_error_and_names_only_what_is_plugged(
    booted_hotplug: FakeHypervisor,
) -> None:
    fake = booted_hotplug
    foreign = dict(P2, mac_address=P3["mac_address"])  # plugged by someone else, unnamed
    fake.attach_device(NAME, render_plug_xml(_plug(foreign, {})))
    report = one(fake, server(interfaces=[P3]))
    assert report.state == "error"
    assert "already has the device mac fa:16:3e:00:00:03" in report.message
    xml = fake.domain_xml(NAME) or ""
    assert [i.mac for i in interfaces_of(xml)] == ["fa:16:3e:00:00:03"]  # p1 was detached
    assert plugged_port_ids(xml) == set()  # and the foreign device is not taken for p3


# -- errors and reports ---------------------------------------------------------------


def test_one_bad_server_does_not_stop_the_others() -> None:
    fake = FakeHypervisor()
    bad = server(interfaces=[{**P1, "vif_type": "ovs"}])
    broken = server(id=OTHER_ID)
    del broken["vcpus"]
    good = server(id="11111111-2222-3333-4444-555555555555")
    reports = converge(fake, bad, broken, good)
    assert [r.state for r in reports] == ["error", "error", "running"]
    assert "ovs" in reports[0].message
    assert reports[1].message == "malformed desired server: KeyError: 'vcpus'"
    assert fake.list_domains() == [domain_name(good["id"])]


def test_a_report_key_counts_the_xml() -> None:
    first = DomainReport(SERVER_ID, "running", "rebooted (SOFT)", render(server(), []))
    second = DomainReport(SERVER_ID, "running", "rebooted (SOFT)", render(server(generation=1), []))
    assert first.key != second.key
    assert first.key == DomainReport(SERVER_ID, "running", "rebooted (SOFT)", first.xml).key
    assert DomainReport(SERVER_ID, "shutoff").key == (SERVER_ID, "shutoff", "", "")
    assert first.as_dict() == {"id": SERVER_ID, "state": "running", "message": "rebooted (SOFT)",
                               "xml": first.xml}  # fmt: skip


def test_remove_gone_leaves_foreign_domains(booted: FakeHypervisor) -> None:
    booted.define_and_start(
        render(server(id=OTHER_ID), []).replace(domain_name(OTHER_ID), "not-ours")
    )
    DomainReconciler(booted).remove_gone([])
    assert booted.list_domains() == ["not-ours"]
