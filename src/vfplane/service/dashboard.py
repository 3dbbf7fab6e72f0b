"""The dashboard's read model: capacity per physnet, hosts, a host's PFs and VFs, one VF.

Every read is sized for 10,000 hosts of 128 VFs: the summary is one aggregate query over
the devices; hosts come a page at a time (per physnet, in name order, from a marker),
counted by state in one grouped query; a host's devices are read only when it is opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from vfplane.db.compute_tables import Server
from vfplane.db.tables import Event, PciDeviceRecord, Port, PortBinding
from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.pci import DeviceType
from vfplane.errors import Forbidden, NotFound
from vfplane.service import events, qos
from vfplane.service.context import RequestContext

STATES = ("free", "claimed", "allocated", "unavailable")
MAX_PAGE = 500
_STATE_OF: dict[str, str] = {DeviceStatus.AVAILABLE: "free", DeviceStatus.CLAIMED: "claimed",
             DeviceStatus.ALLOCATED: "allocated"}  # fmt: skip
D = PciDeviceRecord


def state_of(status: str) -> str:
    """The dashboard's four states: anything not free, claimed or allocated is unavailable."""
    return _STATE_OF.get(status, "unavailable")


def _on_physnet(physnet: str) -> ColumnElement[bool]:
    """Devices on ``physnet``; ``""`` names the devices on none."""
    return D.physical_network.is_(None) if not physnet else D.physical_network == physnet


def require_admin(context: RequestContext) -> None:
    if not context.is_admin:
        raise Forbidden("The dashboard needs the admin role", kind="PolicyNotAuthorized")


def _vf_count(status: DeviceStatus | None) -> ColumnElement[int]:
    """The number of VFs (with ``status``; None: any) in a group, as an aggregate."""
    wanted = D.dev_type == DeviceType.VF.value
    if status is not None:
        wanted = and_(wanted, D.status == status.value)
    return func.coalesce(func.sum(case((wanted, 1), else_=0)), 0)


def _state_counts() -> list[ColumnElement[int]]:
    return [
        _vf_count(None).label("total"),
        _vf_count(DeviceStatus.AVAILABLE).label("free"),
        _vf_count(DeviceStatus.CLAIMED).label("claimed"),
        _vf_count(DeviceStatus.ALLOCATED).label("allocated"),
    ]


def _counts(row: Any) -> dict[str, int]:
    total, free, claimed, allocated = (int(row.total), int(row.free), int(row.claimed),
                                       int(row.allocated))  # fmt: skip
    return {"total": total, "free": free, "claimed": claimed, "allocated": allocated,
            "unavailable": total - free - claimed - allocated}  # fmt: skip


def summary(session: Session, context: RequestContext) -> list[dict[str, Any]]:
    """Capacity per physnet (VFs by state, hosts, PFs), in one aggregate query."""
    require_admin(context)
    query = (
        select(
            D.physical_network,
            func.count(func.distinct(D.host)).label("hosts"),
            func.coalesce(func.sum(case((D.dev_type == DeviceType.PF.value, 1), else_=0)), 0)
            .label("pfs"),
            *_state_counts(),
        )
        .group_by(D.physical_network)
        .order_by(D.physical_network)
    )  # fmt: skip
    return [{"physnet": row.physical_network, "hosts": int(row.hosts), "pfs": int(row.pfs),
             **_counts(row)} for row in session.execute(query)]  # fmt: skip


@dataclass(frozen=True)
class HostPage:
    hosts: list[dict[str, Any]]
    next_marker: str | None


def hosts_page(
    session: Session, context: RequestContext, physnet: str, name: str | None = None,
    marker: str | None = None, limit: int = 50,
) -> HostPage:  # fmt: skip
    """The hosts with devices on ``physnet`` (``""``: devices on none), after ``marker``
    in name order, whose name contains ``name``; each with its VFs counted by state."""
    require_admin(context)
    limit = max(1, min(limit, MAX_PAGE))
    query = (
        select(D.host, func.count().label("devices"), *_state_counts())
        .where(_on_physnet(physnet))
        .group_by(D.host)
        .order_by(D.host)
        .limit(limit + 1)
    )
    if marker:
        query = query.where(D.host > marker)
    if name:
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(D.host.like(f"%{escaped}%", escape="\\"))
    rows = list(session.execute(query))
    hosts = [{"name": row.host, **_counts(row)} for row in rows[:limit]]
    return HostPage(hosts, hosts[-1]["name"] if len(rows) > limit else None)


def _device(row: PciDeviceRecord, port_id: str | None) -> dict[str, Any]:
    return {"address": row.address, "dev_type": row.dev_type, "status": row.status,
            "state": state_of(row.status), "vf_index": row.vf_index, "ifname": row.ifname,
            "pf_ifname": row.pf_ifname, "mac": row.mac, "physnet": row.physical_network,
            "instance_id": row.instance_id, "port_id": port_id}  # fmt: skip


def _ports_on(session: Session, host: str) -> dict[str, str]:
    """pci_slot → port id, from the host's active bindings."""
    query = select(PortBinding.port_id, PortBinding.profile).where(
        PortBinding.host == host, PortBinding.status == "ACTIVE"
    )
    return {str(profile["pci_slot"]): port_id for port_id, profile in session.execute(query)
            if isinstance(profile, Mapping) and profile.get("pci_slot")}  # fmt: skip


def host_devices(
    session: Session, context: RequestContext, host: str, physnet: str | None = None
) -> list[dict[str, Any]]:
    """The host's PFs, each with its VFs (and lone devices as PFs without VFs), on ``physnet``
    when given (``""``: on none); a device's port is the one whose active binding names its
    address."""
    require_admin(context)
    query = select(D).where(D.host == host).order_by(D.address)
    if physnet is not None:
        query = query.where(_on_physnet(physnet))
    rows = list(session.scalars(query))
    ports = _ports_on(session, host)
    parents: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.dev_type != DeviceType.VF.value:
            parents[row.address] = {**_device(row, ports.get(row.address)), "vfs": []}
    for row in rows:
        if row.dev_type == DeviceType.VF.value:
            parent = parents.get(row.parent_addr or "")
            if parent is None:  # its PF is on no physnet, or not reported: a stand-in
                parent = parents[row.parent_addr or ""] = {
                    "address": row.parent_addr, "dev_type": DeviceType.PF.value,
                    "status": None, "state": None, "ifname": row.pf_ifname, "vfs": [],
                }  # fmt: skip
            parent["vfs"].append(_device(row, ports.get(row.address)))
    for parent in parents.values():
        parent["vfs"].sort(key=lambda vf: (vf["vf_index"] is None, vf["vf_index"] or 0))
    return list(parents.values())


@dataclass
class VfDetail:
    device: dict[str, Any]
    saved_original: dict[str, Any] | None
    port: dict[str, Any] | None = None
    server: dict[str, Any] | None = None
    rates: dict[str, int | None] = field(default_factory=dict)


def _port_of(session: Session, host: str, address: str) -> tuple[Port, PortBinding] | None:
    """The port whose active binding on ``host`` names the device at ``address``."""
    port_id = _ports_on(session, host).get(address)
    port = session.get(Port, port_id) if port_id else None
    active = [b for b in port.bindings if b.status == "ACTIVE" and b.host == host] if port else []
    return (port, active[0]) if port is not None and active else None


def vf_detail(session: Session, context: RequestContext, host: str, address: str) -> VfDetail:
    """One device: its facts and state, its port (MAC, VLAN, rates), its server, and the
    original state its agent saved before changing it."""
    require_admin(context)
    row = session.scalar(select(D).where(D.host == host, D.address == address))
    if row is None:
        raise NotFound(f"Host {host} has no device {address}", kind="PciDeviceNotFound")
    found = _port_of(session, host, address)
    detail = VfDetail(_device(row, found[0].id if found else None), row.saved_original)
    if found is not None:
        port, binding = found
        vlan = binding.vif_details.get("vlan")
        detail.port = {"id": port.id, "name": port.name, "mac_address": port.mac_address,
                       "status": port.status, "vnic_type": binding.vnic_type,
                       "vif_type": binding.vif_type, "device_id": port.device_id,
                       "vlan": int(vlan) if vlan not in (None, "") else None}  # fmt: skip
        max_kbps, min_kbps = qos.effective_rates_of(session, [port])[port.id]
        detail.rates = {"max_kbps": max_kbps, "min_kbps": min_kbps}
    server_id = row.instance_id or (found[0].device_id if found else None)
    server = session.get(Server, server_id) if server_id else None
    if server is not None:
        detail.server = {"id": server.id, "name": server.name, "status": server.status,
                         "project_id": server.project_id}  # fmt: skip
    return detail


def recent_events(
    session: Session, context: RequestContext, limit: int, kind: str | None = None
) -> list[Event]:
    """The newest failed bindings and no-valid-host boots, newest first."""
    require_admin(context)
    return events.recent(session, limit, kind)
