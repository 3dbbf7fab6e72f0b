"""One request id tells the whole story: a boot, a port update and a delete made with known
``X-OpenStack-Request-ID``s reach a real agent (simulated NIC, libvirt's test driver) through
the desired state; its JSON log lines for the VF and the domain carry each id, and so do the
server's lines for the agent's reports about them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.api.conftest import PASSWORD, Api, LiveApi
from tests.functional.api.port_helpers import PORTS, make_network, make_port
from tests.functional.faults.cloud import HOST, NEW, SERVERS, flavor, show_server
from vfplane import logs
from vfplane.agent.domains import DomainReconciler, domain_name
from vfplane.agent.inventory import scan_host
from vfplane.agent.loop import Agent
from vfplane.agent.reconcile import Reconciler
from vfplane.client import REQUEST_ID_HEADER, ApiClient, Credentials
from vfplane.host.hypervisor import LibvirtHypervisor
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.cluster import HostSpec, libvirt_host_xml
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.settings import AgentSettings, PciSettings

PF, VF0 = "0000:3b:00.0", "0000:3b:02.0"
BOOT = "req-1b000000-0000-4000-8000-000000000001"
UPDATE = "req-1b000000-0000-4000-8000-000000000002"
DELETE = "req-1b000000-0000-4000-8000-000000000003"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every line logged in this process meanwhile (server and agent), as the JSON handler
    writes them."""
    stream, root = io.StringIO(), logging.getLogger()
    handler, level = logs.make_handler("json", stream=stream), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def agent(live_api: LiveApi, tmp_path: Path) -> Iterator[Agent]:
    root = tmp_path / "root"
    LabSysfs(root).add_card(PROFILES["x710"], pfs=1, vfs=1)
    LabSysfs(root).write_topology(16, 32768, 1)
    spec = HostSpec.model_validate({"name": HOST, "profile": "x710", "physnets": ["physnet1"]})
    (tmp_path / "host.xml").write_text(libvirt_host_xml(spec), encoding="utf-8")
    settings = AgentSettings(host=HOST, sysfs_root=root, physical_device_mappings="physnet1:ens1f0")
    pci = PciSettings(device_spec=[{"address": PF, "physical_network": "physnet1"}])
    client = ApiClient(live_api.url, Credentials("agent-c1", PASSWORD, "service"))
    reconciler = Reconciler(SimulatedNic(root), VfStateStore(tmp_path / "state"))
    with LibvirtHypervisor(f"test://{tmp_path / 'host.xml'}") as hypervisor:
        made = Agent(HOST, client, reconciler, lambda: scan_host(settings, pci),
                     domains=DomainReconciler(hypervisor))  # fmt: skip
        made._rescan()
        made.heartbeat()
        yield made
        made.close()


def _story(stream: io.StringIO, request_id: str) -> list[tuple[str, str]]:
    """(logger, message) of every line that carries ``request_id`` (each line is JSON)."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [(line["logger"], line["message"]) for line in lines
            if line.get("request_id") == request_id]  # fmt: skip


def _line(stream: io.StringIO, logger: str, message: str) -> dict[str, Any]:
    (found,) = [line for line in map(json.loads, stream.getvalue().splitlines())
                if (line["logger"], line["message"]) == (logger, message)]  # fmt: skip
    return dict(found)


def _boot(api: Api, port_id: str) -> str:
    flavor_id = flavor(api)["id"]
    body = {"server": {"name": "vm", "flavorRef": flavor_id, "networks": [{"port": port_id}]}}
    booted = api.post("admin", SERVERS, body, headers={**NEW, REQUEST_ID_HEADER: BOOT})
    assert (booted.status_code, booted.headers[REQUEST_ID_HEADER]) == (202, BOOT), booted.text
    return str(booted.json()["server"]["id"])


def test_boot_update_and_delete_each_leave_one_greppable_story(
    live_api: LiveApi, agent: Agent, json_lines: io.StringIO
) -> None:
    api = live_api.api
    network_id = make_network(api, vlan=131)
    port_id = make_port(api, "admin", network_id, **{"binding:vnic_type": "direct"})["id"]
    server_id = _boot(api, port_id)
    agent.reconcile_once(-1)
    assert show_server(api, server_id)["status"] == "ACTIVE"
    domain, configured = domain_name(server_id), f"VF {VF0} configured for port {port_id}"
    # The server's access lines are written once the answer is sent: compare without order.
    assert sorted(_story(json_lines, BOOT)) == sorted([
        ("vfplane.api.access", "POST /compute/v2.1/servers 202"),
        ("vfplane.agent.reconcile", configured),
        ("vfplane.service.hosts", f"port {port_id} is ACTIVE on host {HOST} (its agent reports)"),
        ("vfplane.api.access", f"POST /v1/hosts/{HOST}/ports/status 200"),
        ("vfplane.agent.domains", f"domain {domain} defined and started"),
        ("vfplane.service.server_domains", f"server {server_id}: domain running on host {HOST}"),
        ("vfplane.api.access", f"POST /v1/hosts/{HOST}/servers/status 200"),
    ])  # fmt: skip
    vf_line = _line(json_lines, "vfplane.agent.reconcile", configured)
    assert {k: vf_line[k] for k in ("host", "port_id", "pci_address", "pf_ifname", "vf_index")} == {
        "host": HOST, "port_id": port_id, "pci_address": VF0, "pf_ifname": "ens1f0",
        "vf_index": 0}  # fmt: skip
    started = _line(json_lines, "vfplane.agent.domains", f"domain {domain} defined and started")
    assert (started["server_id"], started["host"]) == (server_id, HOST)
    actions = api.get("admin", f"{SERVERS}/{server_id}/os-instance-actions").json()
    assert [a["request_id"] for a in actions["instanceActions"]] == [BOOT]

    change = {"port": {"admin_state_up": False}}
    updated = api.put("admin", f"{PORTS}/{port_id}", change, headers={REQUEST_ID_HEADER: UPDATE})
    assert updated.status_code == 200, updated.text
    agent.reconcile_once(-1)
    assert ("vfplane.agent.reconcile", configured) in _story(json_lines, UPDATE)

    deleted = api.delete("admin", f"{SERVERS}/{server_id}", headers={REQUEST_ID_HEADER: DELETE})
    assert deleted.status_code == 204, deleted.text
    agent.reconcile_once(-1)
    story = _story(json_lines, DELETE)
    assert ("vfplane.agent.domains", f"domain {domain} destroyed and undefined") in story
    assert ("vfplane.agent.reconcile", f"VF {VF0} restored after port {port_id}") in story


def test_a_port_unbound_by_a_port_update_names_that_update_when_its_vf_is_restored(
    live_api: LiveApi, agent: Agent, json_lines: io.StringIO
) -> None:
    api, network_id = live_api.api, make_network(live_api.api, vlan=132)
    binding = {"binding:vnic_type": "direct", "binding:host_id": HOST,
               "binding:profile": {"pci_slot": VF0}}  # fmt: skip
    port_id = make_port(api, "admin", network_id, **binding)["id"]
    agent.reconcile_once(-1)
    unbind = {"port": {"binding:host_id": "", "binding:profile": {}}}
    response = api.put("admin", f"{PORTS}/{port_id}", unbind, headers={REQUEST_ID_HEADER: UPDATE})
    assert response.status_code == 200, response.text
    agent.reconcile_once(-1)
    restored = ("vfplane.agent.reconcile", f"VF {VF0} restored after port {port_id}")
    assert restored in _story(json_lines, UPDATE)
