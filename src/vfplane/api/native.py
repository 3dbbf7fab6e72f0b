"""The native ``/v1`` API: agent heartbeats and binding explanations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import Caller, Db, Deps
from vfplane.api.network.agents import render_agent
from vfplane.domain.binding import BindingResult, DriverVerdict
from vfplane.service import agents, port_bindings

router = APIRouter(prefix="/v1", tags=["native"])


class HeartbeatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    agent_type: str = Field(min_length=1, max_length=255)
    binary: str = Field(min_length=1, max_length=255)
    topic: str = Field("N/A", max_length=255)
    configurations: dict[str, Any] = Field(default_factory=dict)
    start_flag: bool = False


@router.post("/agents/heartbeat", summary="Report an agent's heartbeat and configuration")
def heartbeat(body: HeartbeatBody, caller: Caller, session: Db, deps: Deps) -> dict[str, Any]:
    report = agents.Heartbeat(
        host=body.host,
        agent_type=body.agent_type,
        binary=body.binary,
        topic=body.topic,
        configurations=body.configurations,
        start_flag=body.start_flag,
    )
    agent = agents.report_heartbeat(session, caller, report, deps.clock())
    return {"agent": render_agent(agent, deps)}


def _verdict(verdict: DriverVerdict) -> dict[str, Any]:
    result = verdict.result
    if isinstance(result, BindingResult):
        return {"driver": verdict.driver, "binds": True, "vif_type": result.vif_type}
    return {"driver": verdict.driver, "binds": False, "reason": result.reason}


@router.get("/ports/{port_id}/explain", summary="Why a port is bound, or why not")
def explain_port(port_id: str, caller: Caller, session: Db, deps: Deps) -> dict[str, Any]:
    manager = deps.binding
    found = port_bindings.explain_port(session, caller, port_id, manager, deps.clock())
    binding = found.binding
    return {
        "port": {
            "id": found.port.id,
            "name": found.port.name,
            "status": found.port.status,
            "host": binding.host,
            "vnic_type": binding.vnic_type,
            "profile": dict(binding.profile or {}),
            "vif_type": binding.vif_type,
            "vif_details": dict(binding.vif_details or {}),
            "bound_driver": found.bound_driver,
            "network": {
                "id": found.network.id,
                "network_type": found.network.network_type,
                "physical_network": found.network.physical_network,
                "segmentation_id": found.network.segmentation_id,
                "port_profile": found.network.port_profile,
            },
            "failure_reasons": [r.as_dict() for r in found.recorded],
            "drivers": [_verdict(v) for v in found.verdicts],
            "mechanism_drivers": manager.driver_names,
        }
    }
