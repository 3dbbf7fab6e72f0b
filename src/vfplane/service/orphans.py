"""The orphan sweeper: no PCI device stays claimed by a server that does not exist.

A device is an orphan when it is claimed or allocated for an instance that is not a live
server: there is no ``servers`` row of that id, or the row is deleted, or the server is in
ERROR on no host (``servers.fail`` gives a failed server's devices back and then clears its
host, so whatever is still held for it was claimed by a boot that lost a race with the
failure, e.g. the build timeout). A server in ERROR *on* a host keeps its devices until it
is deleted, as in Nova, and is not swept.

No grace period is needed: ``servers.boot`` commits the server row before it claims
anything (and interface attach claims only for an existing server), so a claim without a
row is never one whose row is still on its way. Orphans are found in one statement, whose
snapshot sees a claim only together with the server row committed before it. Devices are
given back through ``claims.free``, which keeps the PF/VF rules (a PF is available again once
all its VFs are) and stamps the host for the scheduler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from vfplane.db.compute_tables import Server
from vfplane.db.tables import PciDeviceRecord
from vfplane.domain.device_states import DeviceStatus
from vfplane.service import claims

LOG = logging.getLogger(__name__)
HELD = (DeviceStatus.CLAIMED.value, DeviceStatus.ALLOCATED.value)


@dataclass(frozen=True)
class Orphan:
    """The devices held on ``host`` for ``instance_id``, which is no live server."""

    host: str
    instance_id: str
    addresses: tuple[str, ...]
    reason: str


def _reason(server_id: str | None, deleted: bool) -> str:
    if server_id is None:
        return "has no server record"
    if deleted:
        return "was deleted"
    return "is in ERROR on no host"


def find_orphans(session: Session) -> list[Orphan]:
    """Every (host, instance) whose held devices belong to no live server. Ends the
    session's transaction (on SQLite a read snapshot kept would block the frees)."""
    device, server = PciDeviceRecord, Server
    dead = or_(server.id.is_(None), server.deleted_at.is_not(None),
               and_(server.status == "ERROR", server.host.is_(None)))  # fmt: skip
    columns = (device.host, device.instance_id, device.address, server.id,
               server.deleted_at.is_not(None))  # fmt: skip
    query = (
        select(*columns)
        .outerjoin(server, server.id == device.instance_id)
        .where(device.status.in_(HELD), device.instance_id.is_not(None), dead)
        .order_by(device.host, device.instance_id, device.address)
    )
    found: dict[tuple[str, str], Orphan] = {}
    for host, instance_id, address, server_id, deleted in session.execute(query):
        key = (str(host), str(instance_id))
        known = found.get(key)
        addresses = (*known.addresses, str(address)) if known else (str(address),)
        found[key] = Orphan(*key, addresses, _reason(server_id, bool(deleted)))
    session.rollback()  # end the read transaction: SQLite would otherwise keep its snapshot
    return list(found.values())


def _free(session: Session, orphan: Orphan) -> list[str]:
    try:
        freed = claims.free(session, orphan.host, orphan.instance_id)
    except claims.ClaimConflict as exc:
        LOG.warning("could not free the devices of orphan instance %s on %s (next sweep "
                    "tries again): %s", orphan.instance_id, orphan.host, exc)  # fmt: skip
        return []
    for address in freed:
        LOG.warning("freed PCI device %s on host %s: it was held for instance %s, which %s",
                    address, orphan.host, orphan.instance_id, orphan.reason)  # fmt: skip
    return [str(address) for address in freed]


def sweep_orphans(session: Session) -> list[Orphan]:
    """Free every orphaned device; returns what was freed (per host and instance). Safe to
    run any time and from several servers at once: freeing is idempotent."""
    swept: list[Orphan] = []
    for orphan in find_orphans(session):
        freed = _free(session, orphan)
        if freed:
            swept.append(Orphan(orphan.host, orphan.instance_id, tuple(freed), orphan.reason))
    return swept
