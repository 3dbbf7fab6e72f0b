"""``/metrics``: VF gauges, scheduling and claim counters, binding failures, heartbeat ages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.functional.api.conftest import Api, Database, make_settings
from tests.functional.api.port_helpers import heartbeat, make_network, make_port, show_port
from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies
from vfplane.db.engine import make_session_factory
from vfplane.db.tables import PciDeviceRecord

SERVERS = "/compute/v2.1/servers"
PF = "0000:3b:00.0"
VFS = [f"0000:3b:02.{n}" for n in range(3)]
START = datetime(2026, 3, 1, 12, 0, 0)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}  # fmt: skip


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def vfs(samples: Samples, host: str = "compute-1", physnet: str = "physnet1") -> dict[str, float]:
    return {state: samples[("vfplane_host_vfs",
                            frozenset({"host": host, "physnet": physnet, "state": state}.items()))]
            for state in ("free", "used", "unavailable")}  # fmt: skip


def register(api: Api, host: str = "compute-1", physnet: str = "physnet1") -> None:
    facts = {"vendor_id": "8086", "numa_node": 0, "physical_network": physnet,
             "tags": {"physical_network": physnet}}  # fmt: skip
    devices = [{"address": PF, "product_id": "1572", "dev_type": "type-PF", "ifname": "ens1f0",
                **facts}]  # fmt: skip
    devices += [{"address": vf, "product_id": "154c", "dev_type": "type-VF", "parent_addr": PF,
                 "vf_index": i, "ifname": f"ens1f0v{i}", **facts}
                for i, vf in enumerate(VFS)]  # fmt: skip
    body = {"vcpus": 16, "memory_mb": 32768, "numa_topology": [{"id": 0}], "devices": devices}
    assert api.put("admin", f"/v1/hosts/{host}", body).status_code == 200
    heartbeat(api, host, mappings={physnet: ["ens1f0"]})


def boot(api: Api, network_id: str) -> dict[str, object]:
    flavor = {"flavor": {"name": "m1", "vcpus": 2, "ram": 1024, "disk": 1, "id": None}}
    flavor_id = api.post("admin", "/compute/v2.1/flavors", flavor).json()["flavor"]["id"]
    nics = [{"uuid": network_id, "vnic_type": "direct"}]
    body = {"server": {"name": "vm", "flavorRef": flavor_id, "networks": nics}}
    response = api.post("admin", SERVERS, body)
    assert response.status_code == 202, response.text
    server: dict[str, object] = api.get("admin", f"{SERVERS}/{response.json()['server']['id']}"
                                        ).json()["server"]  # fmt: skip
    return server


def test_vf_gauges_follow_registration_boot_and_delete(api: Api) -> None:
    assert value(scrape(api.client), "vfplane_physnet_vfs", physnet="physnet1", state="free") == 0
    register(api)  # after a first scrape: the next one catches up with the registration
    registered = scrape(api.client)
    assert vfs(registered) == {"free": 3, "used": 0, "unavailable": 0}
    assert value(registered, "vfplane_physnet_vfs", physnet="physnet1", state="free") == 3
    server = boot(api, make_network(api, vlan=101))
    assert server["status"] == "BUILD"
    booted = scrape(api.client)
    assert vfs(booted) == {"free": 2, "used": 1, "unavailable": 0}
    assert value(booted, "vfplane_physnet_vfs", physnet="physnet1", state="used") == 1
    assert value(booted, "vfplane_claims_total") == 1
    assert value(booted, "vfplane_claim_conflicts_total") == 0
    assert value(booted, "vfplane_scheduling_decision_seconds_count") == 1
    assert value(booted, "vfplane_no_valid_host_total") == 0
    assert api.delete("admin", f"{SERVERS}/{server['id']}").status_code == 204
    assert vfs(scrape(api.client)) == {"free": 3, "used": 0, "unavailable": 0}


def test_no_valid_host_is_counted_and_its_decision_timed(api: Api) -> None:
    register(api)
    server = boot(api, make_network(api, physnet="physnet3", vlan=None, kind="flat"))
    assert server["status"] == "ERROR"
    samples = scrape(api.client)
    assert value(samples, "vfplane_no_valid_host_total") == 1
    assert value(samples, "vfplane_scheduling_decision_seconds_count") == 1
    assert value(samples, "vfplane_scheduling_decision_seconds_bucket", le="+Inf") == 1
    assert value(samples, "vfplane_claims_total") == 0
    assert vfs(samples) == {"free": 3, "used": 0, "unavailable": 0}


def test_a_claim_that_lost_a_race_is_counted(api: Api, database: Database) -> None:
    register(api)
    assert vfs(scrape(api.client))["free"] == 3  # the scheduler's picture: all three free
    with Session(database.engine) as elsewhere:  # no stamp: as if between decision and claim
        elsewhere.execute(update(PciDeviceRecord).where(PciDeviceRecord.dev_type == "type-VF")
                          .values(status="claimed", instance_id="another-server"))  # fmt: skip
        elsewhere.commit()
    server = boot(api, make_network(api, vlan=103))
    assert server["status"] == "ERROR"
    samples = scrape(api.client)
    assert value(samples, "vfplane_claim_conflicts_total") == 1
    assert value(samples, "vfplane_claims_total") == 0
    assert value(samples, "vfplane_no_valid_host_total") == 1  # the next decision read them
    assert value(samples, "vfplane_scheduling_decision_seconds_count") == 2
    assert vfs(samples) == {"free": 0, "used": 3, "unavailable": 0}


@pytest.fixture
def clock(api: Api) -> list[datetime]:
    now = [START]
    api.deps.clock = lambda: now[0]
    return now


def test_binding_failures_count_the_deciding_refusal(api: Api, clock: list[datetime]) -> None:
    network_id = make_network(api, vlan=102)
    direct = {"binding:vnic_type": "direct", "binding:host_id": "compute-1"}
    port = make_port(api, "admin", network_id, **direct)  # no agent on compute-1 yet
    assert show_port(api, "admin", port["id"])["binding:vif_type"] == "binding_failed"
    heartbeat(api, "compute-1")
    clock[0] = START + timedelta(seconds=600)  # the agent is down by now
    make_port(api, "admin", network_id, **direct)
    samples = scrape(api.client)
    failures = "vfplane_binding_failures_total"
    labels = {"vnic_type": "direct", "driver": "sriovnicswitch"}
    assert value(samples, failures, reason="agent_missing", **labels) == 1
    assert value(samples, failures, reason="agent_down", **labels) == 1
    assert sum(v for (name, _), v in samples.items() if name == failures) == 2


def test_heartbeat_age_follows_the_clock(api: Api, clock: list[datetime]) -> None:
    heartbeat(api, "compute-1")
    clock[0] = START + timedelta(seconds=42)
    heartbeat(api, "compute-2")
    clock[0] = START + timedelta(seconds=50)
    samples = scrape(api.client)
    age = "vfplane_agent_heartbeat_age_seconds"
    agent = {"agent_type": "NIC Switch agent"}
    assert value(samples, age, host="compute-1", **agent) == 50
    assert value(samples, age, host="compute-2", **agent) == 8


@pytest.fixture
def guarded(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    """A second app, alive beside ``api``, whose /metrics needs a token."""
    settings = make_settings(tmp_path, database.url, metrics={"token": "s3cret"})
    deps = ApiDependencies.from_settings(settings, make_session_factory(database.engine))
    with TestClient(create_app(deps, build_models=False)) as client:
        yield client


def test_a_token_guards_metrics_and_each_app_counts_its_own(api: Api, guarded: TestClient) -> None:
    for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
        refused = guarded.get("/metrics", headers=header)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
    register(api)
    boot(api, make_network(api, physnet="physnet3", vlan=None, kind="flat"))
    assert value(scrape(api.client), "vfplane_no_valid_host_total") == 1
    theirs = scrape(guarded, Authorization="Bearer s3cret")
    assert value(theirs, "vfplane_no_valid_host_total") == 0
    assert vfs(theirs) == {"free": 3, "used": 0, "unavailable": 0}  # the cloud's, the same
