"""``/v1/hosts`` and ``/v1/devices``: what agents register, watch and report."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vfplane.api.deps import ApiDependencies, Caller, Db, Deps
from vfplane.api.network.common import iso
from vfplane.db.tables import Host, PciDeviceRecord
from vfplane.logs import REQUEST_ID_PATTERN
from vfplane.service import hosts as service
from vfplane.service.context import RequestContext

router = APIRouter(prefix="/v1", tags=["native: hosts"])
MAX_WAIT = 60.0
MAX_INT = 2**31 - 1  # the database columns are 32-bit integers


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceBody(_Body):
    address: str = Field(pattern=r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$")
    vendor_id: str = Field(pattern=r"^[0-9a-f]{4}$")
    product_id: str = Field(pattern=r"^[0-9a-f]{4}$")
    dev_type: str = Field(pattern=r"^type-(PF|VF|PCI)$")
    parent_addr: str | None = None
    numa_node: int | None = Field(None, ge=0, le=MAX_INT)
    driver: str | None = None
    ifname: str | None = None
    pf_ifname: str | None = None
    vf_index: int | None = Field(None, ge=0, le=MAX_INT)
    mac: str | None = None
    iommu_group: int | None = Field(None, ge=0, le=MAX_INT)
    physical_network: str | None = None
    tags: dict[str, str | None] = Field(default_factory=dict)


class NumaNodeBody(_Body):
    id: int = Field(ge=0, le=MAX_INT)
    cpus: list[int] = Field(default_factory=list)
    memory_mb: int = Field(0, ge=0, le=MAX_INT)


class HostBody(_Body):
    vcpus: int = Field(ge=0, le=MAX_INT)
    memory_mb: int = Field(ge=0, le=MAX_INT)
    numa_topology: list[NumaNodeBody] = Field(default_factory=list)
    configurations: dict[str, Any] = Field(default_factory=dict)
    devices: list[DeviceBody] = Field(default_factory=list)


class PortErrorBody(_Body):
    port_id: str
    message: str = Field(max_length=1024)


class SavedOriginalBody(_Body):
    port_id: str = Field(max_length=255)
    config: dict[str, Any]


class StatusBody(_Body):
    up: list[str] = Field(default_factory=list)
    down: list[str] = Field(default_factory=list)
    errors: list[PortErrorBody] = Field(default_factory=list)
    # Every VF's saved original, by PCI address (omitted: unchanged since last told).
    originals: dict[str, SavedOriginalBody] | None = None
    # Port id → the request id that asked for its change (the server's line names it).
    request_ids: dict[str, Annotated[str, Field(pattern=REQUEST_ID_PATTERN)]] = Field(
        default_factory=dict
    )


def render_host(host: Host) -> dict[str, Any]:
    return {
        "name": host.name,
        "vcpus": host.vcpus,
        "memory_mb": host.memory_mb,
        "numa_topology": host.numa_topology,
        "configurations": host.configurations,
        "revision": host.revision,
        "inventory_generation": host.inventory_generation,
        "created_at": iso(host.created_at),
        "updated_at": iso(host.updated_at),
    }


def render_device(device: PciDeviceRecord, port_id: str | None) -> dict[str, Any]:
    body = {name: getattr(device, name) for name in service.DEVICE_FACTS}
    return {"host": device.host, "address": device.address, **body, "status": device.status,
            "instance_id": device.instance_id, "port_id": port_id}  # fmt: skip


@router.put("/hosts/{host}", summary="Register a host and its inventory (agents)")
def register_host(host: str, body: HostBody, caller: Caller, session: Db, deps: Deps) -> Any:
    report = service.HostReport(
        name=host, vcpus=body.vcpus, memory_mb=body.memory_mb,
        numa_topology=[n.model_dump() for n in body.numa_topology],
        configurations=body.configurations, devices=[d.model_dump() for d in body.devices],
    )  # fmt: skip
    return {"host": render_host(service.register_host(session, caller, report, deps.clock()))}


@router.get("/hosts", summary="Registered hosts")
def list_hosts(caller: Caller, session: Db) -> dict[str, Any]:
    return {"hosts": [render_host(h) for h in service.list_hosts(session, caller)]}


@router.get("/hosts/{host}", summary="One host")
def show_host(host: str, caller: Caller, session: Db) -> dict[str, Any]:
    return {"host": render_host(service.get_host(session, caller, host))}


@router.get("/devices", summary="PCI devices, their state and the port each VF serves")
def list_devices(caller: Caller, session: Db, host: str | None = None) -> dict[str, Any]:
    devices = service.list_devices(session, caller, host)
    ports = service.ports_by_slot(session, sorted({d.host for d in devices}))
    return {"devices": [render_device(d, ports.get((d.host, d.address))) for d in devices]}


def _read_desired(deps: ApiDependencies, caller: RequestContext, host: str) -> dict[str, Any]:
    with deps.sessions() as session:
        state = service.desired_state(session, caller, host)
    return {"host": state.host, "revision": state.revision, "ports": state.ports,
            "servers": state.servers, "released": state.released,
            "originals_digest": state.originals_digest}  # fmt: skip


@router.get("/hosts/{host}/desired", summary="Long-poll the desired state of a host's VFs")
async def desired_state(
    host: str,
    caller: Caller,
    deps: Deps,
    since: int = Query(-1, description="Answer at once unless the revision still equals this"),
    timeout: float = Query(30.0, ge=0, le=MAX_WAIT, description="Seconds to wait for a change"),
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with deps.notifier.subscription(host) as changed:
            state = await run_in_threadpool(_read_desired, deps, caller, host)
            remaining = deadline - loop.time()
            if state["revision"] != since or remaining <= 0:
                return state
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)


@router.post("/hosts/{host}/ports/status", summary="Report ports up, down or failed (agents)")
def report_status(
    host: str, body: StatusBody, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    originals = None if body.originals is None else {
        address: saved.model_dump() for address, saved in body.originals.items()}  # fmt: skip
    report = service.StatusReport(body.up, body.down, {e.port_id: e.message for e in body.errors},
                                  originals, body.request_ids)  # fmt: skip
    ignored = service.report_port_status(session, caller, host, report, deps.clock())
    return {"ignored": ignored}
