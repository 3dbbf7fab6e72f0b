"""Claims never hand one device out twice, with many concurrent claimers, on every backend."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tests.functional.api.conftest import Database
from vfplane.db.engine import make_session_factory
from vfplane.db.tables import Host, PciDeviceRecord
from vfplane.domain.pci import PciAddress
from vfplane.service import claims
from vfplane.service.claims import ClaimConflict

HOST = "claim-host"
PF = "0000:5e:00.0"
VFS = [f"0000:5e:{2 + i // 8:02x}.{i % 8}" for i in range(20)]


@pytest.fixture
def sessions(database: Database):  # type: ignore[no-untyped-def]
    factory = make_session_factory(database.engine)
    with factory() as session:
        session.execute(delete(PciDeviceRecord).where(PciDeviceRecord.host == HOST))
        session.execute(delete(Host).where(Host.name == HOST))
        now = _now()
        host = Host(name=HOST, vcpus=8, memory_mb=8192, numa_topology=[], configurations={},
                    revision=1, inventory_generation=1, created_at=now, updated_at=now)  # fmt: skip
        session.add(host)
        session.flush()
        session.add(_row(PF, "type-PF", None))
        for vf in VFS:
            session.add(_row(vf, "type-VF", PF))
        session.commit()
    return factory


def _now():  # type: ignore[no-untyped-def]
    from vfplane.api.deps import utc_now

    return utc_now()


def _row(address: str, kind: str, parent: str | None) -> PciDeviceRecord:
    return PciDeviceRecord(id=str(uuid.uuid4()), host=HOST, address=address, vendor_id="8086",
                           product_id="154c", dev_type=kind, parent_addr=parent,
                           physical_network="physnet1", tags={"physical_network": "physnet1"},
                           status="available", generation=1)  # fmt: skip


def _statuses(session: Session) -> dict[str, tuple[str, str | None]]:
    rows = session.scalars(select(PciDeviceRecord).where(PciDeviceRecord.host == HOST))
    return {r.address: (r.status, r.instance_id) for r in rows}


def test_claim_allocate_free_follow_the_pf_vf_rules(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        claims.claim(session, HOST, "vm-1", {"req-1": [PciAddress.parse(VFS[0])]})
        state = _statuses(session)
        assert state[VFS[0]] == ("claimed", "vm-1")
        assert state[PF] == ("unclaimable", None)
        claims.allocate(session, HOST, "vm-1")
        assert _statuses(session)[VFS[0]] == ("allocated", "vm-1")
        assert _statuses(session)[PF] == ("unavailable", None)
        with pytest.raises(ClaimConflict, match="it is unavailable"):
            claims.claim(session, HOST, "vm-2", {"req-2": [PciAddress.parse(PF)]})
        assert claims.free(session, HOST, "vm-1") == [PciAddress.parse(VFS[0])]
        assert set(_statuses(session).values()) == {("available", None)}


def test_a_failed_claim_keeps_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        claims.claim(session, HOST, "vm-1", {"r": [PciAddress.parse(VFS[1])]})
        wanted = {"r": [PciAddress.parse(VFS[0]), PciAddress.parse(VFS[1])]}
        with pytest.raises(ClaimConflict):
            claims.claim(session, HOST, "vm-2", wanted)
        assert _statuses(session)[VFS[0]] == ("available", None)


def test_fifty_claimers_twenty_vfs(sessions) -> None:  # type: ignore[no-untyped-def]
    winners: list[tuple[str, str]] = []
    lock = threading.Lock()

    def boot(instance: str) -> None:
        with sessions() as session:
            for _ in range(40):
                free = [
                    a for a, (s, _) in _statuses(session).items() if s == "available" and a != PF
                ]
                if not free:
                    return
                try:
                    claims.claim(session, HOST, instance, {"r": [PciAddress.parse(free[0])]})
                except ClaimConflict:
                    continue
                with lock:
                    winners.append((instance, free[0]))
                return

    threads = [threading.Thread(target=boot, args=(f"vm-{i}",)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(winners) == 20
    assert Counter(address for _, address in winners).most_common(1)[0][1] == 1
    with sessions() as session:
        state = _statuses(session)
    assert sorted(i for _, (s, i) in state.items() if s == "claimed") == sorted(
        i for i, _ in winners
    )


def test_siblings_freed_at_once_give_their_pf_back(sessions) -> None:  # type: ignore[no-untyped-def]
    """Two frees of a PF's last two VFs, each reading the other still in use: the second
    write must notice the first (through the PF), read again and give the PF back."""
    with sessions() as session:
        claims.claim(session, HOST, "vm-1", {"r1": [PciAddress.parse(VFS[0])]})
        claims.claim(session, HOST, "vm-2", {"r2": [PciAddress.parse(VFS[1])]})
        claims.allocate(session, HOST, "vm-1")
        claims.allocate(session, HOST, "vm-2")
    family = (claims._FAMILY_OF_INSTANCE, {"host": HOST})
    with sessions() as first, sessions() as second:
        reads = [claims._snapshot(s, family[0], {**family[1], "instance_id": vm})
                 for s, vm in ((first, "vm-1"), (second, "vm-2"))]  # fmt: skip
        for snapshot, vm, vf in zip(reads, ("vm-1", "vm-2"), VFS, strict=False):
            snapshot.tree[PciAddress.parse(vf)].free(vm)
            assert snapshot.tree[PciAddress.parse(PF)].status == "unavailable"  # sibling in use
        claims._write(first, HOST, reads[0])
        first.commit()
        with pytest.raises(claims._StaleRow):
            claims._write(second, HOST, reads[1])
        second.rollback()
        claims.free(second, HOST, "vm-2")  # what _transact does next: read again, write
        assert set(_statuses(second).values()) == {("available", None)}
