"""Host use cases: registration with inventory, desired state for the agent, port status."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from vfplane.db.tables import Host, Network, PciDeviceRecord, Port, PortBinding
from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.networks import PortStatus, VifType
from vfplane.domain.vfstate import originals_digest
from vfplane.errors import NotFound
from vfplane.service import qos, server_domains
from vfplane.service.context import RequestContext

LOG = logging.getLogger(__name__)
DEVICE_FACTS = ("vendor_id", "product_id", "dev_type", "parent_addr", "numa_node", "driver",
                "ifname", "pf_ifname", "vf_index", "mac", "iommu_group", "physical_network",
                "tags")  # fmt: skip
AGENT_CONFIGURED = frozenset({VifType.HW_VEB, VifType.QBH})
_REMOVABLE = {DeviceStatus.AVAILABLE, DeviceStatus.UNCLAIMABLE, DeviceStatus.UNAVAILABLE}


@dataclass(frozen=True)
class HostReport:
    name: str
    vcpus: int
    memory_mb: int
    numa_topology: Sequence[Mapping[str, Any]] = ()
    configurations: Mapping[str, Any] = field(default_factory=dict)
    devices: Sequence[Mapping[str, Any]] = ()


def _sync_devices(session: Session, host: Host, reported: Sequence[Mapping[str, Any]]) -> bool:
    """Make the stored devices match the report; never drop a device in use (Nova bug 1633120)."""
    stored = {
        d.address: d
        for d in session.scalars(select(PciDeviceRecord).where(PciDeviceRecord.host == host.name))
    }
    changed = False
    for facts in reported:
        row = stored.pop(facts["address"], None)
        if row is None:
            row = PciDeviceRecord(id=str(uuid.uuid4()), host=host.name, address=facts["address"],
                                  status=DeviceStatus.AVAILABLE, generation=1)  # fmt: skip
            session.add(row)
            changed = True
        for name in DEVICE_FACTS:
            if getattr(row, name, None) != facts.get(name):
                setattr(row, name, facts.get(name))
                changed = True
    for row in stored.values():
        if row.status in _REMOVABLE and row.instance_id is None:
            session.delete(row)
            changed = True
        else:
            LOG.warning("device %s of host %s is gone but %s; kept until freed",
                        row.address, host.name, row.status)  # fmt: skip
    return changed


def register_host(
    session: Session, context: RequestContext, report: HostReport, now: datetime
) -> Host:
    """Create or refresh a host and its inventory (idempotent)."""
    context.require_host(report.name, "Registering a host")
    host = session.get(Host, report.name)
    if host is None:
        host = Host(name=report.name, created_at=now, revision=1, inventory_generation=0)
        session.add(host)
    host.vcpus = report.vcpus
    host.memory_mb = report.memory_mb
    host.numa_topology = [dict(n) for n in report.numa_topology]
    host.configurations = dict(report.configurations)
    host.updated_at = now
    session.flush()
    if _sync_devices(session, host, report.devices):
        host.inventory_generation += 1
    session.commit()
    return host


def get_host(session: Session, context: RequestContext, name: str) -> Host:
    context.require_host(name, "Reading a host")
    host = session.get(Host, name)
    if host is None:
        raise NotFound(f"Host {name} is not registered; its agent registers it when it starts.",
                       kind="HostNotFound")  # fmt: skip
    return host


def list_hosts(session: Session, context: RequestContext) -> list[Host]:
    context.require_admin_or_service("Listing hosts")
    query = select(Host).order_by(Host.name)
    if context.host_scope is not None:
        query = query.where(Host.name == context.host_scope)
    return list(session.scalars(query))


def list_devices(
    session: Session, context: RequestContext, host: str | None
) -> list[PciDeviceRecord]:
    if host is not None:
        get_host(session, context, host)
    else:
        context.require_admin_or_service("Listing devices")
    query = select(PciDeviceRecord).order_by(PciDeviceRecord.host, PciDeviceRecord.address)
    wanted = host or context.host_scope
    if wanted is not None:
        query = query.where(PciDeviceRecord.host == wanted)
    return list(session.scalars(query))


def ports_by_slot(session: Session, hosts: Sequence[str]) -> dict[tuple[str, str], str]:
    """(host, pci_slot) → port id, from the active bindings on those hosts."""
    query = select(PortBinding).where(PortBinding.host.in_(hosts), PortBinding.status == "ACTIVE")
    return {
        (b.host, str(b.profile.get("pci_slot"))): b.port_id
        for b in session.scalars(query)
        if b.profile.get("pci_slot")
    }


@dataclass(frozen=True)
class DesiredState:
    host: str
    revision: int
    ports: list[dict[str, Any]]
    servers: list[dict[str, Any]] = field(default_factory=list)
    # What the agent takes down, with the request ids that asked ({"servers", "ports"}: id → id)
    released: dict[str, dict[str, str]] = field(default_factory=dict)
    # The digest of the saved originals the server keeps for the host: the agent reports its
    # own when they differ (``originals_digest``).
    originals_digest: str | None = None


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on", "t", "y"}


def _desired_port(
    port: Port, binding: PortBinding, rates: tuple[int | None, int | None]
) -> dict[str, Any]:
    max_kbps, min_kbps = rates
    trusted = port.trusted
    if trusted is None and "trusted" in binding.profile:
        trusted = _truthy(binding.profile["trusted"])
    vlan = binding.vif_details.get("vlan") if binding.vif_type == VifType.HW_VEB else None
    return {
        "port_id": port.id,
        "pci_slot": binding.profile.get("pci_slot"),
        "mac_address": port.mac_address,
        "vlan": int(vlan) if vlan not in (None, "") else 0,
        "admin_state_up": port.admin_state_up,
        "port_security_enabled": port.port_security_enabled,
        "trusted": trusted,
        "propagate_uplink_status": port.propagate_uplink_status,
        "max_kbps": max_kbps,
        "min_kbps": min_kbps,
        "vnic_type": binding.vnic_type,
        "vif_type": binding.vif_type,
        "status": port.status,
        "request_id": port.request_id,
    }


def desired_state(session: Session, context: RequestContext, name: str) -> DesiredState:
    """The VF configuration the agent of ``name`` should converge to."""
    host = get_host(session, context, name)
    query = (
        select(Port, PortBinding)
        .join(PortBinding, PortBinding.port_id == Port.id)
        .join(Network, Network.id == Port.network_id)
        .where(
            PortBinding.host == name,
            PortBinding.status == "ACTIVE",
            PortBinding.vif_type.in_(sorted(AGENT_CONFIGURED)),
        )
        .order_by(Port.id)
    )
    rows = list(session.execute(query))
    rates = qos.effective_rates_of(session, [port for port, _ in rows])
    ports = [_desired_port(port, binding, rates[port.id]) for port, binding in rows]
    servers = server_domains.desired_servers(session, name)
    released = server_domains.released(session, name)
    kept = select(PciDeviceRecord.address, PciDeviceRecord.saved_original).where(
        PciDeviceRecord.host == name, PciDeviceRecord.saved_original.is_not(None)
    )
    originals = {a: o for a, o in session.execute(kept) if o is not None}
    digest = originals_digest(originals)
    released["ports"] = {**_restore_ids(session, originals, ports), **released["ports"]}
    return DesiredState(name, host.revision, ports, servers, released, digest)


def _restore_ids(
    session: Session, originals: Mapping[str, Any], ports: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Port id → the request id that last changed it, for the ports whose VF the agent will
    restore: a saved original names them but they are no longer desired here (unbound, their
    server deleted or failed). A deleted port has no row, so no id."""
    held = {str(o.get("port_id")) for o in originals.values() if isinstance(o, Mapping)}
    held -= {str(p["port_id"]) for p in ports}
    query = select(Port.id, Port.request_id).where(
        Port.id.in_(sorted(held)), Port.request_id.is_not(None)
    )
    return {port_id: str(rid) for port_id, rid in session.execute(query)} if held else {}


@dataclass(frozen=True)
class StatusReport:
    up: Sequence[str] = ()
    down: Sequence[str] = ()
    errors: Mapping[str, str] = field(default_factory=dict)
    originals: Mapping[str, Mapping[str, Any]] | None = None  # every saved original, or None
    request_ids: Mapping[str, str] = field(default_factory=dict)  # port → the call that asked


def store_originals(
    session: Session, host: str, originals: Mapping[str, Mapping[str, Any]]
) -> None:
    """Keep each VF's saved original as its agent reports them (all of the host's at once);
    only the rows that differ are written, with no scheduling or desired-state stamp."""
    device = PciDeviceRecord
    rows = session.execute(
        select(device.id, device.address, device.saved_original).where(device.host == host)
    )
    changed = [{"row": row_id, "saved": dict(originals[address]) if address in originals else None}
               for row_id, address, saved in rows if saved != originals.get(address)]  # fmt: skip
    if changed:
        statement = update(device).where(device.id == bindparam("row"))
        session.connection().execute(statement.values(saved_original=bindparam("saved")), changed)


def report_port_status(
    session: Session, context: RequestContext, host: str, report: StatusReport, now: datetime
) -> list[str]:
    """Apply the agent's report to ports bound to ``host``; returns the ids it ignored."""
    get_host(session, context, host)
    wanted = {**dict.fromkeys(report.down, (PortStatus.DOWN, None)),
              **dict.fromkeys(report.up, (PortStatus.ACTIVE, None)),
              **{p: (PortStatus.ERROR, m) for p, m in report.errors.items()}}  # fmt: skip
    query = select(PortBinding.port_id).where(
        PortBinding.host == host,
        PortBinding.status == "ACTIVE",
        PortBinding.port_id.in_(sorted(wanted)),
    )
    bound = set(session.scalars(query))
    for port_id in bound:
        port = session.get(Port, port_id)
        if port is None:
            continue
        status, reason = wanted[port_id]
        if (port.status, port.status_reason) != (status, reason):
            port.status, port.status_reason, port.updated_at = status, reason, now
            LOG.info("port %s is %s on host %s (its agent reports)%s", port_id, status, host,
                     f": {reason}" if reason else "",
                     extra={"port_id": port_id, "host": host, "status": status,
                            "request_id": report.request_ids.get(port_id)})  # fmt: skip
    server_domains.servers_of_ports(session, sorted(bound), now)
    if report.originals is not None:
        store_originals(session, host, report.originals)
    session.commit()
    return sorted(set(wanted) - bound)
