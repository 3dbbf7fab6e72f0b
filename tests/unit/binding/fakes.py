"""Hand-written snapshots for driver and manager tests."""

from __future__ import annotations

from typing import Any

from vfplane.domain.binding import (
    LINUX_BRIDGE_AGENT,
    NIC_SWITCH_AGENT,
    AgentView,
    NetworkView,
    PortContext,
    PortView,
)

HOST = "compute-1"


def agent(
    agent_type: str = NIC_SWITCH_AGENT,
    physnets: tuple[str, ...] = ("physnet1",),
    *,
    alive: bool = True,
    host: str = HOST,
    age: float = 5.0,
) -> AgentView:
    key = "device_mappings" if agent_type == NIC_SWITCH_AGENT else "interface_mappings"
    return AgentView(
        id=f"{agent_type}-{host}",
        agent_type=agent_type,
        host=host,
        alive=alive,
        heartbeat_age=age,
        configurations={key: {p: ["eth0"] for p in physnets}},
    )


def bridge_agent(**kwargs: Any) -> AgentView:
    return agent(LINUX_BRIDGE_AGENT, **kwargs)


def context(
    vnic_type: str = "direct",
    *,
    network_type: str = "vlan",
    physnet: str | None = "physnet1",
    segment: int | None = 100,
    port_profile: str | None = None,
    profile: dict[str, Any] | None = None,
    agents: tuple[AgentView, ...] = (),
    host: str = HOST,
) -> PortContext:
    return PortContext(
        port=PortView(id="port-1", network_id="net-1", mac_address="fa:16:3e:00:00:01"),
        network=NetworkView("net-1", network_type, physnet, segment, port_profile),
        host=host,
        vnic_type=vnic_type,
        profile=profile or {},
        agents=agents,
        agent_down_time=75,
    )
