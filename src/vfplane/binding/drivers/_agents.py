"""Checks shared by drivers that need an L2 agent on the binding host."""

from __future__ import annotations

from vfplane.domain.binding import PortContext, Refusal, RefusalKind


def check_host_agent(context: PortContext, agent_type: str, mappings_key: str) -> Refusal | None:
    """None when an alive ``agent_type`` on the host maps the network's physnet."""
    agents = context.host_agents(agent_type)
    if not agents:
        reason = f"no alive {agent_type} on host {context.host} (none has reported)"
        return Refusal(reason, RefusalKind.AGENT_MISSING)
    alive = [a for a in agents if a.alive]
    if not alive:
        age = min(a.heartbeat_age for a in agents)
        return Refusal(
            f"no alive {agent_type} on host {context.host} (last heartbeat {age:.0f} s ago, "
            f"agent_down_time {context.agent_down_time} s)",
            RefusalKind.AGENT_DOWN,
        )
    physnet = context.network.physical_network
    if physnet is None:
        return None
    known: list[str] = []
    for agent in alive:
        mappings = agent.configurations.get(mappings_key) or {}
        if physnet in mappings:
            return None
        known.extend(str(name) for name in mappings)
    return Refusal(
        f"physnet {physnet} is not in the {mappings_key} of the agent on {context.host} "
        f"({', '.join(sorted(set(known))) or 'none'})",
        RefusalKind.PHYSNET_NOT_MAPPED,
    )
