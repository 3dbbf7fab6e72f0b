"""Booting, finishing and deleting servers: the seed's boot flow.

Ports (and the networks they are on) become PCI requests before a host is chosen;
the scheduler explains every host it rejects; devices are claimed atomically and
the next candidate is tried on a lost race; ports are bound with Nova's
binding:profile; any failure gives everything back and leaves a readable fault.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vfplane.db.compute_tables import Server
from vfplane.domain.alias import Alias
from vfplane.domain.binding import Binder
from vfplane.domain.requests import (
    PciRequest,
    flavor_numa_nodes,
    flavor_numa_policy,
    flavor_requests,
    port_request,
)
from vfplane.domain.scheduling import (
    Candidate,
    Decision,
    InstanceRequest,
)
from vfplane.errors import NotFound
from vfplane.service import claims, events
from vfplane.service.context import RequestContext
from vfplane.service.host_view import HostView
from vfplane.service.ports import PortConfig
from vfplane.service.server_actions import fault, record_action
from vfplane.service.server_ports import (
    NicRequest,
    ServerPort,
    bind_ports,
    needs_device,
    prepare_ports,
    release_ports,
)

LOG = logging.getLogger(__name__)
CLAIM_ROUNDS = 32  # fresh decisions after lost races; each round some claimer wins
ACTIVE_STATES = ("BUILD", "ACTIVE", "SHUTOFF", "REBOOT", "HARD_REBOOT")


@dataclass(frozen=True)
class BootRequest:
    name: str
    flavor: Mapping[str, Any]  # id, name, vcpus, ram, disk, extra_specs
    image_id: str | None
    image_location: str | None
    nics: Sequence[NicRequest]


@dataclass(frozen=True)
class BootTools:
    binder: Binder
    ports: PortConfig
    aliases: Mapping[str, Alias]
    hosts: HostView


def _new_id() -> str:
    return str(uuid.uuid4())


def port_requests(ports: Sequence[ServerPort], extra_specs: Mapping[str, str]) -> list[PciRequest]:
    """One request per port that needs a device, under the flavor's NUMA policy."""
    policy = flavor_numa_policy(extra_specs)
    found = [port_request(p.port_id, p.vnic_type, p.physical_network, p.trusted, policy,
                          _new_id) for p in ports if needs_device(p)]  # fmt: skip
    return [r for r in found if r is not None]


def pci_requests(
    ports: Sequence[ServerPort], extra_specs: Mapping[str, str], aliases: Mapping[str, Alias]
) -> list[PciRequest]:
    """One request per port that needs a device, then the flavor's alias requests."""
    return port_requests(ports, extra_specs) + flavor_requests(extra_specs, aliases, _new_id)


def request_dict(request: PciRequest) -> dict[str, Any]:
    return {"request_id": request.request_id, "count": request.count,
            "specs": [dict(spec) for spec in request.specs], "alias_name": request.alias_name,
            "requester_id": request.requester_id,
            "numa_policy": request.numa_policy.value if request.numa_policy else None}  # fmt: skip


def fail(
    session: Session, context: RequestContext, server: Server, tools: BootTools, now: datetime,
    message: str, details: str = "", *, no_valid_host: bool = False,
) -> None:  # fmt: skip
    """ERROR with a readable fault; ports unbound (created ones deleted), devices freed.
    ``no_valid_host``: the event that says so is written with the fault."""
    LOG.info("server %s failed: %s", server.id, message)
    ports = [ServerPort.from_dict(p) for p in server.ports]
    release_ports(session, context, ports, tools.binder, now, owner=server.id)
    if server.host:
        claims.free(session, server.host, server.id)
    server.host = None  # nothing of it is left there
    server.status, server.vm_state, server.task_state = "ERROR", "error", None
    server.fault = fault(message, now, details)
    server.updated_at = now
    if no_valid_host:
        events.no_valid_host(session, context, server, message, now)
    session.commit()


def _claim_on(session: Session, instance_id: str, candidate: Candidate) -> bool:
    wanted = {a.request_id: list(a.addresses) for a in candidate.assignments}
    try:
        claims.claim(session, candidate.host, instance_id, wanted)
    except claims.ClaimConflict as exc:
        LOG.info("claim for %s on %s lost a race: %s", instance_id, candidate.host, exc)
        return False
    return True


def claim_best(
    session: Session, instance_id: str, request: InstanceRequest, hosts: HostView,
    only: str | None = None,
) -> tuple[Candidate | None, Decision]:  # fmt: skip
    """Schedule (over every host, or the one named ``only``) and claim the best candidate; on a
    lost race the next candidate, then a fresh decision. The last decision explains a miss."""
    for round_number in range(CLAIM_ROUNDS):
        if round_number:
            time.sleep(random.uniform(0, 0.02 * min(round_number, 5)))  # de-synchronise racers
        decision = hosts.decide(session, request, only)
        if not decision.fits:
            return None, decision
        for candidate in claim_order(decision.candidates, hosts.config.host_subset_size):
            won = _claim_on(session, instance_id, candidate)
            hosts.metrics.claimed(won)
            if won:
                return candidate, decision
            hosts.forget(candidate.host)
    return None, decision


def claim_order(candidates: Sequence[Candidate], subset_size: int) -> list[Candidate]:
    """Nova's ``host_subset_size``: the first host tried is drawn at random from the best
    ``subset_size``, so server processes deciding at the same moment seldom race for one
    host; the others follow best first."""
    ordered = list(candidates)
    if subset_size > 1 and len(ordered) > 1:
        ordered.insert(0, ordered.pop(random.randrange(min(subset_size, len(ordered)))))
    return ordered


def place(
    session: Session, server: Server, request: InstanceRequest, hosts: HostView
) -> Candidate | None:
    """Claim on the best host for ``server``, keeping the scheduler's explanation."""
    candidate, decision = claim_best(session, server.id, request, hosts)
    server.explanation = {"summary": _summary(decision, candidate), "hosts": decision.explain()}
    return candidate


def _summary(decision: Decision, chosen: Candidate | None) -> str:
    """The scheduler's one line: why no host fits, or where the server went and why not
    elsewhere ("placed on compute-2 (3 hosts fit); 1 host: 1 has no device on physnet3")."""
    if chosen is None:
        return decision.summary
    fit = len(decision.candidates)
    placed = f"placed on {chosen.host} ({fit} host{'' if fit == 1 else 's'} fit"
    placed += f", {decision.skipped} not examined)" if decision.skipped else ")"
    return f"{placed}; {decision.summary}" if decision.rejected or decision.bulk else placed


def _slots(ports: Sequence[ServerPort], candidate: Candidate) -> dict[str, str | None]:
    by_port = {a.requester_id: a.addresses for a in candidate.assignments if a.requester_id}
    return {p.port_id: str(by_port[p.port_id][0]) if p.port_id in by_port else None
            for p in ports}  # fmt: skip


def boot(
    session: Session, context: RequestContext, request: BootRequest, tools: BootTools,
    now: datetime,
) -> Server:  # fmt: skip
    """Create one server: ports, requests, a host, claims, bindings. ERROR explains a failure."""
    extra_specs = {str(k): str(v) for k, v in (request.flavor.get("extra_specs") or {}).items()}
    ports = prepare_ports(session, context, request.nics, tools.ports, tools.binder, now)
    try:
        requests = pci_requests(ports, extra_specs, tools.aliases)
        guest_nodes = flavor_numa_nodes(extra_specs, int(request.flavor["vcpus"]))
    except Exception:
        release_ports(session, context, ports, tools.binder, now)
        raise
    server = Server(
        id=str(uuid.uuid4()), project_id=context.project_id, user_id=context.user_id,
        name=request.name, flavor_id=str(request.flavor["id"]), flavor=dict(request.flavor),
        image_id=request.image_id, image_location=request.image_location, status="BUILD",
        vm_state="building", task_state="scheduling", power_state=0,
        ports=[p.as_dict() for p in ports], created_ports=[p.port_id for p in ports if p.created],
        pci_requests=[request_dict(r) for r in requests], created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(server)
    session.flush()  # the action row refers to the server row
    record_action(session, context, server.id, "create", now)
    session.commit()
    flavor = request.flavor
    instance = InstanceRequest(int(flavor["vcpus"]), int(flavor["ram"]), requests,
                               guest_numa_nodes=guest_nodes)  # fmt: skip
    candidate = place(session, server, instance, tools.hosts)
    if candidate is None:
        summary = (server.explanation or {}).get("summary", "")
        message = f"No valid host was found. {summary}".strip()
        fail(session, context, server, tools, now, message, no_valid_host=True)
        return server
    server.host, server.task_state = candidate.host, "networking"
    server.numa_nodes = list(candidate.numa_cells)
    if not _flushed_while_building(session, server):
        _abandon(session, context, server, ports, candidate, tools, now)
        return server
    session.commit()
    failures = bind_ports(session, server.id, candidate.host, _slots(ports, candidate),
                          tools.binder, now)  # fmt: skip
    if failures:
        fail(session, context, server, tools, now, "Port binding failed", "; ".join(failures))
        return server
    claims.allocate(session, candidate.host, server.id)
    server.task_state = "spawning"
    server.updated_at = now
    if not _flushed_while_building(session, server):
        _abandon(session, context, server, ports, candidate, tools, now)
        return server
    session.commit()
    return server


def _flushed_while_building(session: Session, server: Server) -> bool:
    """Write the server's changes, then read back whether it is still a live build (a delete
    or the build timeout may have taken it meanwhile); its row stays held until the commit.
    The flush's hooks stamp the host before the server row is written, as a delete's do,
    so concurrent deletes and boots take their locks in one order."""
    session.flush()
    query = select(Server.status, Server.deleted_at).where(Server.id == server.id)
    status, deleted_at = session.execute(query).one()
    if status == "BUILD" and deleted_at is None:
        return True
    session.rollback()
    return False


def _abandon(
    session: Session, context: RequestContext, server: Server, ports: Sequence[ServerPort],
    candidate: Candidate, tools: BootTools, now: datetime,
) -> None:  # fmt: skip
    """A build deleted or failed by another request gives back what it took since."""
    LOG.info("server %s was deleted or failed while it was being built", server.id)
    release_ports(session, context, ports, tools.binder, now, owner=server.id)
    claims.free(session, candidate.host, server.id)


def get_server(session: Session, context: RequestContext, server_id: str) -> Server:
    server = session.get(Server, server_id)
    visible = server is not None and server.deleted_at is None and context.owns(server.project_id)
    if server is None or not visible:
        raise NotFound(f"Instance {server_id} could not be found.", kind="InstanceNotFound")
    return server


def list_servers(session: Session, context: RequestContext) -> list[Server]:
    query = select(Server).where(Server.deleted_at.is_(None)).order_by(Server.created_at)
    if not context.is_admin_or_service:
        query = query.where(Server.project_id == context.project_id)
    return list(session.scalars(query))


def delete(
    session: Session, context: RequestContext, server_id: str, tools: BootTools, now: datetime
) -> None:
    """Give everything back: ports unbound (created ones deleted), devices freed."""
    server = get_server(session, context, server_id)
    context.require_write("Deleting a server")
    ports = [ServerPort.from_dict(p) for p in server.ports]
    release_ports(session, context, ports, tools.binder, now, owner=server.id)
    if server.host:
        claims.free(session, server.host, server.id)
    server.status, server.vm_state, server.task_state = "DELETED", "deleted", None
    server.deleted_at = server.updated_at = now
    record_action(session, context, server.id, "delete", now)
    session.commit()
