"""Agents: heartbeats through /v1, Neutron's /agents view, liveness, admin changes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import (
    AGENTS,
    HEARTBEAT,
    LINUX_BRIDGE,
    NIC_SWITCH,
    error,
    heartbeat,
)

START = datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture
def clock(api: Api) -> list[datetime]:
    """The API's clock; tests move it by changing ``clock[0]``."""
    now = [START]
    api.deps.clock = lambda: now[0]
    return now


def test_heartbeat_creates_the_agent_in_neutron_shape(api: Api, clock: list[datetime]) -> None:
    response = heartbeat(api)
    assert response.status_code == 200, response.text
    agents = api.get("admin", AGENTS).json()["agents"]
    assert len(agents) == 1
    agent = agents[0]
    assert agent == {
        "id": agent["id"],
        "agent_type": NIC_SWITCH,
        "binary": "vfplane-agent",
        "host": "compute-1",
        "alive": True,
        "admin_state_up": True,
        "availability_zone": None,
        "topic": "N/A",
        "configurations": {"device_mappings": {"physnet1": ["ens1f0"]}},
        "heartbeat_timestamp": "2026-03-01 12:00:00",
        "created_at": "2026-03-01 12:00:00",
        "started_at": "2026-03-01 12:00:00",
        "description": "",
        "resources_synced": None,
    }
    assert response.json()["agent"]["id"] == agent["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", agent["heartbeat_timestamp"])


def test_heartbeat_updates_the_same_agent(api: Api, clock: list[datetime]) -> None:
    first = heartbeat(api).json()["agent"]
    clock[0] = START + timedelta(seconds=30)
    second = heartbeat(api, mappings={"physnet2": ["ens2f0"]}).json()["agent"]
    assert second["id"] == first["id"]
    assert second["heartbeat_timestamp"] == "2026-03-01 12:00:30"
    assert second["created_at"] == "2026-03-01 12:00:00"
    assert second["configurations"] == {"device_mappings": {"physnet2": ["ens2f0"]}}
    assert len(api.get("admin", AGENTS).json()["agents"]) == 1


def test_start_flag_resets_started_at(api: Api, clock: list[datetime]) -> None:
    heartbeat(api)
    clock[0] = START + timedelta(minutes=5)
    body = {"host": "compute-1", "agent_type": NIC_SWITCH, "binary": "b", "start_flag": True}
    agent = api.post("agent", HEARTBEAT, body).json()["agent"]
    assert agent["started_at"] == "2026-03-01 12:05:00"


def test_agent_is_dead_after_agent_down_time(api: Api, clock: list[datetime]) -> None:
    heartbeat(api)
    clock[0] = START + timedelta(seconds=75)
    assert api.get("admin", AGENTS).json()["agents"][0]["alive"] is True
    clock[0] = START + timedelta(seconds=76)
    assert api.get("admin", AGENTS).json()["agents"][0]["alive"] is False


def test_heartbeats_need_service_or_admin(api: Api) -> None:
    assert heartbeat(api, who="demo").status_code == 403
    assert heartbeat(api, who="admin").status_code == 200
    assert heartbeat(api, who=None).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent_type": NIC_SWITCH, "binary": "b"}, "host"),
        ({"host": "h", "agent_type": NIC_SWITCH, "binary": "b", "configurations": []},
         "configurations"),
        ({"host": "h", "agent_type": "", "binary": "b"}, "agent_type"),
        ({"host": "h", "agent_type": NIC_SWITCH, "binary": "b", "colour": 1}, "colour"),
    ],
)  # fmt: skip
def test_invalid_heartbeat_names_the_field(api: Api, body: dict[str, object], field: str) -> None:
    response = api.post("agent", HEARTBEAT, body)
    assert response.status_code == 400
    assert field in error(response)["message"]


def test_filters(api: Api, clock: list[datetime]) -> None:
    heartbeat(api, host="compute-1")
    heartbeat(api, host="compute-2")
    heartbeat(api, host="compute-1", agent_type=LINUX_BRIDGE)
    clock[0] = START + timedelta(seconds=50)
    heartbeat(api, host="compute-3")
    clock[0] = START + timedelta(seconds=100)

    def hosts(query: str) -> list[tuple[str, str]]:
        agents = api.get("admin", f"{AGENTS}?{query}").json()["agents"]
        return sorted((a["host"], a["agent_type"]) for a in agents)

    assert hosts("agent_type=NIC+Switch+agent&host=compute-1") == [("compute-1", NIC_SWITCH)]
    assert hosts("host=compute-1") == [("compute-1", LINUX_BRIDGE), ("compute-1", NIC_SWITCH)]
    assert hosts("alive=true") == [("compute-3", NIC_SWITCH)]
    assert len(hosts("alive=false")) == 3
    fields = api.get("admin", f"{AGENTS}?fields=id&fields=alive").json()["agents"]
    assert all(set(a) == {"id", "alive"} for a in fields)


def test_show_update_delete(api: Api) -> None:
    agent_id = heartbeat(api).json()["agent"]["id"]
    path = f"{AGENTS}/{agent_id}"
    assert api.get("admin", path).json()["agent"]["id"] == agent_id
    body = {"agent": {"admin_state_up": False, "description": "maintenance"}}
    updated = api.put("admin", path, body).json()["agent"]
    assert updated["admin_state_up"] is False
    assert updated["description"] == "maintenance"
    bad = api.put("admin", path, {"agent": {"host": "elsewhere"}})
    assert bad.status_code == 400
    assert "host" in error(bad)["message"]
    assert api.put("admin", path, {"agent": {"admin_state_up": None}}).status_code == 400
    assert api.delete("admin", path).status_code == 204
    missing = api.get("admin", path)
    assert missing.status_code == 404
    assert error(missing)["type"] == "AgentNotFound"


def test_agents_are_for_admins(api: Api) -> None:
    agent_id = heartbeat(api).json()["agent"]["id"]
    for who in ("demo", "reader"):
        assert api.get(who, AGENTS).status_code == 403
        assert api.get(who, f"{AGENTS}/{agent_id}").status_code == 403
        assert (
            api.put(who, f"{AGENTS}/{agent_id}", {"agent": {"description": "x"}}).status_code == 403
        )
        assert api.delete(who, f"{AGENTS}/{agent_id}").status_code == 403
