"""``/v1/servers``: why a server landed where it did (or nowhere), and its domain XML."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.compute.servers import boot_tools
from vfplane.api.deps import Caller, Db, Deps
from vfplane.errors import NotFound
from vfplane.logs import REQUEST_ID_PATTERN
from vfplane.service import server_domains, servers

router = APIRouter(prefix="/v1", tags=["native: servers"])


class DomainStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    state: str = Field(pattern="^(running|shutoff|error)$")
    message: str = Field("", max_length=4096)
    xml: str | None = Field(None, max_length=1_000_000)
    request_id: str | None = Field(None, pattern=REQUEST_ID_PATTERN)  # the call it answers


class DomainStatusBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    servers: list[DomainStatus] = Field(default_factory=list)


@router.get("/servers/{server_id}/explain", summary="Where a server landed and why, per host")
def explain(server_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    server = servers.get_server(session, caller, server_id)
    return {
        "server": {"id": server.id, "name": server.name, "status": server.status,
                   "host": server.host, "fault": server.fault,
                   "pci_requests": server.pci_requests,
                   "explanation": server.explanation or {}},
    }  # fmt: skip


@router.get("/servers/{server_id}/domain", summary="The domain XML as libvirt dumps it")
def domain(server_id: str, caller: Caller, session: Db) -> Response:
    server = servers.get_server(session, caller, server_id)
    if not server.domain_xml:
        raise NotFound(f"Server {server_id} has no running domain yet (status {server.status}).")
    return Response(server.domain_xml, media_type="application/xml")


@router.post("/hosts/{host}/servers/status", summary="Report domains running or failed (agents)")
def report(host: str, body: DomainStatusBody, caller: Caller, session: Db, deps: Deps) -> Any:
    reports = [server_domains.DomainReport(s.id, s.state, s.message, s.xml, s.request_id)
               for s in body.servers]  # fmt: skip
    tools, now = boot_tools(deps), deps.clock()
    ignored = server_domains.report_domains(session, caller, host, reports, tools, now)
    return {"ignored": ignored}
