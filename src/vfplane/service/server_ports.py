"""The ports of a server: take or create them, bind them to the claimed devices, give them back.

The binding profile is Nova's: ``pci_vendor_info``, ``pci_slot``, ``physical_network``
(from the device's tag), and for a VF ``pf_mac_address`` and ``vf_num``; for a PF
``device_mac_address``, and the port's MAC becomes the PF's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vfplane.db.tables import Network, PciDeviceRecord, Port
from vfplane.domain.binding import UNBOUND_VIF_TYPES, Binder
from vfplane.domain.networks import SRIOV_VNIC_TYPES, VnicType
from vfplane.errors import Conflict, InvalidInput
from vfplane.logs import current_request_id
from vfplane.service import ports as port_service
from vfplane.service.context import SERVICE, RequestContext
from vfplane.service.ipam import FixedIpRequest
from vfplane.service.port_bindings import (
    active_binding,
    current_binding,
    port_context,
    reset_binding,
    store_outcome,
)

DEVICE_OWNER = "compute:nova"
PCI_PROFILE_KEYS = ("pci_vendor_info", "pci_slot", "physical_network", "pf_mac_address",
                    "vf_num", "device_mac_address", "card_serial_number")  # fmt: skip


@dataclass(frozen=True)
class NicRequest:
    """One entry of a server's ``networks``: an existing port, or a network (and vnic_type)."""

    port_id: str | None = None
    network_id: str | None = None
    vnic_type: str | None = None
    fixed_ip: str | None = None


@dataclass(frozen=True)
class ServerPort:
    port_id: str
    network_id: str
    vnic_type: str
    physical_network: str | None
    trusted: bool | None
    created: bool
    mac_address: str
    pending: str | None = None  # "attach" or "detach" until the domain shows it done

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerPort:
        return cls(**data)


def as_service(context: RequestContext) -> RequestContext:
    """The compute service acting for the caller: it may set binding:host_id and profile."""
    return replace(context, roles=context.roles | {SERVICE})


def _take_port(session: Session, context: RequestContext, port_id: str) -> Port:
    port = port_service.get_port(session, context, port_id)
    if port.device_id:
        raise Conflict(f"Port {port_id} is in use by {port.device_id}; detach it first.",
                       kind="PortInUse")  # fmt: skip
    binding = current_binding(port)
    if binding is not None and binding.host:
        raise Conflict(f"Port {port_id} is bound to host {binding.host}; unbind it first.",
                       kind="PortInUse")  # fmt: skip
    return port


def prepare_ports(
    session: Session,
    context: RequestContext,
    nics: Sequence[NicRequest],
    config: port_service.PortConfig,
    binder: Binder,
    now: datetime,
) -> list[ServerPort]:
    """The server's ports, creating those asked for by network; created ports are marked."""
    prepared: list[ServerPort] = []
    try:
        for index, nic in enumerate(nics):
            prepared.append(_prepare_one(session, context, nic, index, config, binder, now))
    except Exception:
        release_ports(session, context, prepared, binder, now)
        raise
    return prepared


def _prepare_one(
    session: Session,
    context: RequestContext,
    nic: NicRequest,
    index: int,
    config: port_service.PortConfig,
    binder: Binder,
    now: datetime,
) -> ServerPort:
    created = nic.port_id is None
    if nic.port_id is not None:
        port = _take_port(session, context, nic.port_id)
    else:
        if nic.network_id is None:
            raise InvalidInput(f"Invalid input for networks[{index}]: give a port or a uuid")
        vnic = nic.vnic_type or VnicType.NORMAL
        if vnic not in {v.value for v in VnicType}:
            raise InvalidInput(f"Invalid input for networks[{index}].vnic_type: '{vnic}'")
        fixed_ips = (FixedIpRequest(ip_address=nic.fixed_ip),) if nic.fixed_ip else None
        request = port_service.PortRequest(network_id=nic.network_id, vnic_type=vnic,
                                           fixed_ips=fixed_ips)  # fmt: skip
        port = port_service.create_port(session, context, request, config, binder, now)
    binding = current_binding(port)
    network = session.get_one(Network, port.network_id)
    return ServerPort(port.id, port.network_id, binding.vnic_type if binding else "normal",
                      network.physical_network, port.trusted, created,
                      port.mac_address)  # fmt: skip


def needs_device(port: ServerPort) -> bool:
    return port.vnic_type in SRIOV_VNIC_TYPES


def pci_profile(session: Session, host: str, address: str) -> dict[str, Any]:
    """Nova's binding:profile for the device at ``address`` on ``host``."""
    device = session.scalar(select(PciDeviceRecord).where(
        PciDeviceRecord.host == host, PciDeviceRecord.address == address))  # fmt: skip
    if device is None:
        raise Conflict(f"PCI device {address} is not on {host} any more")
    profile: dict[str, Any] = {
        "pci_vendor_info": f"{device.vendor_id}:{device.product_id}",
        "pci_slot": device.address,
        "physical_network": device.physical_network,
    }
    if device.dev_type == "type-PF":
        profile["device_mac_address"] = device.mac
        return profile
    parent = session.scalar(select(PciDeviceRecord).where(
        PciDeviceRecord.host == host, PciDeviceRecord.address == device.parent_addr))  # fmt: skip
    if parent is not None and parent.mac:
        profile["pf_mac_address"] = parent.mac
    if device.vf_index is not None:
        profile["vf_num"] = device.vf_index
    return profile


def bind_ports(
    session: Session,
    server_id: str,
    host: str,
    slots: Mapping[str, str | None],
    binder: Binder,
    now: datetime,
) -> list[str]:
    """Bind each port (id → PCI address or None) to ``server_id`` on ``host`` in one
    transaction; returns the failures (a port taken meanwhile, or no driver binding it).

    Each port row is written first, so the transaction holds it (PostgreSQL's row lock,
    SQLite's write turn) while the drivers, in-process and quick, bind it: no other
    request can change the port between the drivers' snapshot and the stored outcome."""
    failures = [_bind_one(session, server_id, host, port_id, address, binder, now)
                for port_id, address in slots.items()]  # fmt: skip
    try:
        session.commit()
    except IntegrityError:  # a PF's MAC already on another port of the network
        session.rollback()
        return [
            f"ports {', '.join(slots)} could not take their devices' MAC addresses on "
            f"{host}: another port of the network has one of them"
        ]
    return [failure for failure in failures if failure]


def _bind_one(
    session: Session, server_id: str, host: str, port_id: str, address: str | None,
    binder: Binder, now: datetime,
) -> str | None:  # fmt: skip
    """Bind one port; it records the request id being served (the boot's, the attach's)."""
    request_id = current_request_id()
    held = session.connection().execute(
        update(Port).where(Port.id == port_id, Port.device_id.in_(("", server_id)))
        .values(device_id=server_id, device_owner=DEVICE_OWNER, updated_at=now,
                revision_number=Port.revision_number + 1,
                **({"request_id": request_id} if request_id else {}))
    ).rowcount  # fmt: skip
    if not held:
        return f"port {port_id} was deleted or taken by another server meanwhile"
    port = session.get_one(Port, port_id, populate_existing=True)
    binding = active_binding(port)
    if any(b.host == host for b in port.bindings if b is not binding):
        return f"port {port_id} already has an inactive binding on host {host}"
    if address is not None:
        binding.profile = pci_profile(session, host, address)
        port.mac_address = binding.profile.get("device_mac_address") or port.mac_address
    binding.host = host
    reset_binding(binding)
    outcome = binder.bind(port_context(session, port, binding, binder.agent_down_time, now))
    store_outcome(port, binding, outcome)
    if binding.vif_type in UNBOUND_VIF_TYPES:
        reasons = "; ".join(f"{r['driver']}: {r['reason']}" for r in binding.failure_reasons)
        return f"port {port_id} could not be bound on {host}: {reasons}"
    return None


def release_ports(
    session: Session,
    context: RequestContext,
    ports: Sequence[ServerPort],
    binder: Binder,
    now: datetime,
    owner: str = "",
) -> None:
    """Unbind the ports (PCI keys out of the profile, host cleared) and delete created ones;
    a port another server than ``owner`` has taken meanwhile is left alone."""
    service = as_service(context)
    for server_port in ports:
        port = session.get(Port, server_port.port_id)
        if port is None or port.device_id not in ("", owner):
            continue
        if server_port.created:
            port_service.delete_port(session, service, port.id)
            continue
        binding = current_binding(port)
        profile = {k: v for k, v in (binding.profile if binding else {}).items()
                   if k not in PCI_PROFILE_KEYS}  # fmt: skip
        changes = {"device_id": "", "device_owner": "", "host": "", "profile": profile}
        port.mac_address = server_port.mac_address
        port_service.update_port(session, service, port.id, changes, binder, now)
