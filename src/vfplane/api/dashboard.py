"""``/v1/dashboard``: what the topology page at ``/ui`` reads (admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from vfplane.api.deps import Caller, Db
from vfplane.api.network.common import iso
from vfplane.db.tables import Event
from vfplane.service import dashboard as service
from vfplane.service import events

router = APIRouter(prefix="/v1/dashboard", tags=["native: dashboard"])
PHYSNET_HELP = 'The physnet; "" names the devices on none'


@router.get("/summary", summary="Capacity per physnet: VFs free, claimed, allocated, unavailable")
def summary(caller: Caller, session: Db) -> dict[str, Any]:
    return {"states": list(service.STATES), "physnets": service.summary(session, caller)}


@router.get("/hosts", summary="A page of the hosts on one physnet, their VFs counted by state")
def hosts(
    caller: Caller,
    session: Db,
    physnet: str = Query(description=PHYSNET_HELP),
    name: str | None = Query(None, description="Only hosts whose name contains this"),
    marker: str | None = Query(None, description="The last host of the previous page"),
    limit: int = Query(50, ge=1, le=service.MAX_PAGE),
) -> dict[str, Any]:
    page = service.hosts_page(session, caller, physnet, name, marker, limit)
    return {"physnet": physnet, "hosts": page.hosts, "next_marker": page.next_marker}


@router.get("/hosts/{host}/devices", summary="A host's PFs and their VFs, with state and port")
def host_devices(
    host: str,
    caller: Caller,
    session: Db,
    physnet: str | None = Query(None, description=PHYSNET_HELP + "; omitted: every physnet"),
) -> dict[str, Any]:
    return {"host": host, "pfs": service.host_devices(session, caller, host, physnet)}


@router.get("/hosts/{host}/devices/{address}", summary="One VF: port, server, rates, original")
def device(host: str, address: str, caller: Caller, session: Db) -> dict[str, Any]:
    found = service.vf_detail(session, caller, host, address)
    extra = {"host": host, "saved_original": found.saved_original, "port": found.port,
             "server": found.server, "rates": found.rates}  # fmt: skip
    return {"device": {**found.device, **extra}}


def render_event(event: Event) -> dict[str, Any]:
    return {"id": event.id, "kind": event.kind, "created_at": iso(event.created_at),
            "message": event.message, "server_id": event.server_id, "port_id": event.port_id,
            "host": event.host, "project_id": event.project_id, "request_id": event.request_id,
            "details": event.details}  # fmt: skip


@router.get("/events", summary="Recent failed bindings and boots that found no valid host")
def recent_events(
    caller: Caller,
    session: Db,
    limit: int = Query(50, ge=1, le=events.KEEP),
    kind: events.EventKind | None = Query(None, description="binding_failed or no_valid_host"),
) -> dict[str, Any]:
    found = service.recent_events(session, caller, limit, kind)
    return {"events": [render_event(e) for e in found]}
