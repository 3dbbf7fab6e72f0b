"""``/network/v2.0/agents``: Neutron's agent view (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import ApiDependencies, Caller, Db, Deps
from vfplane.api.network.common import changed, collection, single
from vfplane.db.tables import Agent
from vfplane.service import agents as service

router = APIRouter(tags=["network: agents"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentUpdate(_Body):
    admin_state_up: bool | None = None
    description: str | None = Field(None, max_length=1024)


class AgentUpdateBody(_Body):
    agent: AgentUpdate


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def render_agent(agent: Agent, deps: ApiDependencies) -> dict[str, Any]:
    down_time = deps.settings.network.agent_down_time
    return {
        "id": agent.id,
        "agent_type": agent.agent_type,
        "binary": agent.binary,
        "host": agent.host,
        "alive": service.is_alive(agent, deps.clock(), down_time),
        "admin_state_up": agent.admin_state_up,
        "availability_zone": None,
        "topic": agent.topic,
        "configurations": dict(agent.configurations or {}),
        "heartbeat_timestamp": timestamp(agent.heartbeat_at),
        "created_at": timestamp(agent.created_at),
        "started_at": timestamp(agent.started_at),
        "description": agent.description,
        "resources_synced": None,
    }


@router.get("/agents", summary="List agents")
def list_agents(request: Request, caller: Caller, session: Db, deps: Deps) -> dict[str, Any]:
    items = [render_agent(a, deps) for a in service.list_agents(session, caller)]
    return collection(request, "agents", items)


@router.get("/agents/{agent_id}", summary="Show an agent")
def show_agent(
    agent_id: str, request: Request, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    agent = service.get_agent(session, caller, agent_id)
    return single(request, "agent", render_agent(agent, deps))


@router.put("/agents/{agent_id}", summary="Update an agent")
def update_agent(
    agent_id: str, body: AgentUpdateBody, request: Request, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    agent = service.update_agent(session, caller, agent_id, changed(body.agent))
    return single(request, "agent", render_agent(agent, deps))


@router.delete("/agents/{agent_id}", status_code=204, summary="Delete an agent")
def delete_agent(agent_id: str, caller: Caller, session: Db) -> Response:
    service.delete_agent(session, caller, agent_id)
    return Response(status_code=204)
