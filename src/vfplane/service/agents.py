"""Agent use cases: heartbeats (upsert by type and host), listing, admin changes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vfplane.db.tables import Agent
from vfplane.domain.binding import AgentView, agent_alive
from vfplane.errors import Conflict, InvalidInput, NotFound
from vfplane.service.context import RequestContext

UPDATABLE = frozenset({"admin_state_up", "description"})


@dataclass(frozen=True)
class Heartbeat:
    host: str
    agent_type: str
    binary: str
    topic: str = "N/A"
    configurations: Mapping[str, Any] = field(default_factory=dict)
    start_flag: bool = False


def _find(session: Session, agent_type: str, host: str) -> Agent | None:
    return session.scalar(select(Agent).where(Agent.agent_type == agent_type, Agent.host == host))


def report_heartbeat(
    session: Session, context: RequestContext, heartbeat: Heartbeat, now: datetime
) -> Agent:
    """Create the agent on its first heartbeat, refresh it on later ones."""
    context.require_admin_or_service("Reporting agent heartbeats")
    context.require_host(heartbeat.host, "Reporting a heartbeat")
    for _ in range(2):
        agent = _find(session, heartbeat.agent_type, heartbeat.host)
        if agent is None:
            agent = Agent(
                id=str(uuid.uuid4()),
                agent_type=heartbeat.agent_type,
                host=heartbeat.host,
                created_at=now,
                started_at=now,
                admin_state_up=True,
                description="",
            )
            session.add(agent)
        elif heartbeat.start_flag:
            agent.started_at = now
        agent.binary = heartbeat.binary
        agent.topic = heartbeat.topic
        agent.configurations = dict(heartbeat.configurations)
        agent.heartbeat_at = now
        try:
            session.commit()
        except IntegrityError:
            session.rollback()  # another replica created it first; update that row
            continue
        return agent
    raise Conflict("The agent changed concurrently; report the heartbeat again.")


def list_agents(session: Session, context: RequestContext) -> list[Agent]:
    context.require_admin("Listing agents")
    return list(session.scalars(select(Agent).order_by(Agent.host, Agent.agent_type)))


def get_agent(session: Session, context: RequestContext, agent_id: str) -> Agent:
    context.require_admin("Showing an agent")
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound(f"Agent {agent_id} could not be found.", kind="AgentNotFound")
    return agent


def update_agent(
    session: Session, context: RequestContext, agent_id: str, changes: Mapping[str, Any]
) -> Agent:
    agent = get_agent(session, context, agent_id)
    refused = sorted(set(changes) - UPDATABLE)
    if refused:
        raise InvalidInput(f"Cannot update read-only attribute(s): {', '.join(refused)}")
    for name, value in changes.items():
        if value is None:
            raise InvalidInput(f"Invalid input for {name}: null is not allowed")
        setattr(agent, name, value)
    session.commit()
    return agent


def delete_agent(session: Session, context: RequestContext, agent_id: str) -> None:
    agent = get_agent(session, context, agent_id)
    session.delete(agent)
    session.commit()


def is_alive(agent: Agent, now: datetime, agent_down_time: int) -> bool:
    return agent_alive(agent.heartbeat_at, now, agent_down_time)


def host_agents(
    session: Session, host: str, now: datetime, agent_down_time: int
) -> tuple[AgentView, ...]:
    """Snapshots of every agent on ``host``, liveness computed at ``now``."""
    rows = session.scalars(select(Agent).where(Agent.host == host).order_by(Agent.agent_type))
    return tuple(
        AgentView(
            id=row.id,
            agent_type=row.agent_type,
            host=row.host,
            alive=agent_alive(row.heartbeat_at, now, agent_down_time),
            heartbeat_age=(now - row.heartbeat_at).total_seconds(),
            configurations=dict(row.configurations or {}),
        )
        for row in rows
    )
