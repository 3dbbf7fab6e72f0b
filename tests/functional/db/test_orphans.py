"""No PCI device stays held for a server that does not exist: the orphan sweeper frees it."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.functional.api.conftest import Database, make_settings
from vfplane.api.app import SWEEP_INTERVAL, create_app
from vfplane.api.deps import ApiDependencies, utc_now
from vfplane.db.compute_tables import Server
from vfplane.db.engine import SessionFactory, make_session_factory
from vfplane.db.tables import Host, PciDeviceRecord
from vfplane.domain.pci import PciAddress
from vfplane.service import claims
from vfplane.service.orphans import sweep_orphans

HOST = "orphan-host"
PF = "0000:5e:00.0"
VFS = [f"0000:5e:02.{i}" for i in range(4)]


def _device(address: str, kind: str, parent: str | None) -> PciDeviceRecord:
    return PciDeviceRecord(id=str(uuid.uuid4()), host=HOST, address=address, vendor_id="8086",
                           product_id="154c", dev_type=kind, parent_addr=parent,
                           physical_network="physnet1", tags={}, status="available",
                           generation=1)  # fmt: skip


@pytest.fixture
def sessions(database: Database) -> SessionFactory:
    database.clear()
    factory = make_session_factory(database.engine)
    with factory() as session:
        now = utc_now()
        session.add(Host(name=HOST, vcpus=8, memory_mb=8192, numa_topology=[], configurations={},
                         revision=1, inventory_generation=1, created_at=now,
                         updated_at=now))  # fmt: skip
        session.flush()
        session.add_all([_device(PF, "type-PF", None), *(_device(v, "type-VF", PF) for v in VFS)])
        session.commit()
    return factory


def _server(session: Session, status: str = "ACTIVE", host: str | None = HOST,
            deleted: bool = False) -> str:  # fmt: skip
    now = utc_now()
    server = Server(id=str(uuid.uuid4()), project_id="p", user_id="u", name="vm", flavor_id="f",
                    host=host, status=status, created_at=now, updated_at=now,
                    deleted_at=now if deleted else None)  # fmt: skip
    session.add(server)
    session.commit()
    return server.id


def _hold(session: Session, instance_id: str, *addresses: str, allocate: bool = True) -> None:
    claims.claim(session, HOST, instance_id, {"req": [PciAddress.parse(a) for a in addresses]})
    if allocate:
        claims.allocate(session, HOST, instance_id)


def _state(session: Session) -> dict[str, tuple[str, str | None]]:
    session.expire_all()
    rows = session.scalars(select(PciDeviceRecord).where(PciDeviceRecord.host == HOST))
    return {r.address: (r.status, r.instance_id) for r in rows}


def test_a_claim_for_a_server_with_no_record_is_freed(
    sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with sessions() as session:
        _hold(session, "ghost", VFS[0], allocate=False)
        _hold(session, "ghost-2", VFS[1])
        with caplog.at_level(logging.WARNING, logger="vfplane.service.orphans"):
            swept = sweep_orphans(session)
        assert {(o.instance_id, o.addresses, o.reason) for o in swept} == {
            ("ghost", (VFS[0],), "has no server record"),
            ("ghost-2", (VFS[1],), "has no server record"),
        }
        assert set(_state(session).values()) == {("available", None)}  # the PF too
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(VFS[0] in m and HOST in m and "ghost" in m for m in warnings), warnings


def test_the_devices_of_deleted_and_hostless_failed_servers_are_freed(
    sessions: SessionFactory,
) -> None:
    with sessions() as session:
        deleted = _server(session, "DELETED", deleted=True)
        failed = _server(session, "ERROR", host=None)
        _hold(session, deleted, VFS[0])
        _hold(session, failed, VFS[1], allocate=False)
        swept = {o.instance_id: o.reason for o in sweep_orphans(session)}
        assert swept == {deleted: "was deleted", failed: "is in ERROR on no host"}
        assert set(_state(session).values()) == {("available", None)}


def test_live_servers_keep_their_devices(sessions: SessionFactory) -> None:
    with sessions() as session:
        active = _server(session)
        building = _server(session, "BUILD", host=None)  # claimed, host not yet recorded
        failed_on_host = _server(session, "ERROR")  # keeps its devices until deleted (Nova)
        _hold(session, active, VFS[0])
        _hold(session, building, VFS[1], allocate=False)
        _hold(session, failed_on_host, VFS[2])
        before = _state(session)
        assert sweep_orphans(session) == []
        assert _state(session) == before


def test_the_pf_is_available_again_only_when_all_its_vfs_are_free(
    sessions: SessionFactory,
) -> None:
    with sessions() as session:
        live = _server(session)
        _hold(session, "ghost", VFS[0], VFS[1])
        _hold(session, live, VFS[2])
        sweep_orphans(session)
        state = _state(session)
        assert state[VFS[0]] == state[VFS[1]] == ("available", None)
        assert state[VFS[2]] == ("allocated", live)
        assert state[PF] == ("unavailable", None)  # a VF of it is still in use
        server = session.get(Server, live)
        assert server is not None
        server.deleted_at = utc_now()
        session.commit()
        sweep_orphans(session)
        assert set(_state(session).values()) == {("available", None)}


def test_a_claimed_pf_is_freed_with_its_vfs(sessions: SessionFactory) -> None:
    with sessions() as session:
        _hold(session, "ghost", PF)
        assert {s for a, s in _state(session).items() if a != PF} == {("unavailable", None)}
        sweep_orphans(session)
        assert set(_state(session).values()) == {("available", None)}


def test_the_sweep_is_idempotent(sessions: SessionFactory) -> None:
    with sessions() as session:
        _hold(session, "ghost", VFS[0])
        assert len(sweep_orphans(session)) == 1
        after = _state(session)
        assert sweep_orphans(session) == []
        assert sweep_orphans(session) == []
        assert _state(session) == after


def test_the_server_sweeps_at_startup(
    sessions: SessionFactory, database: Database, tmp_path: Path
) -> None:
    with sessions() as session:
        _hold(session, "ghost", VFS[3])
    deps = ApiDependencies.from_settings(make_settings(tmp_path, database.url), sessions)
    with TestClient(create_app(deps, build_models=False)), sessions() as session:
        deadline = time.monotonic() + SWEEP_INTERVAL  # before the first periodic sweep
        while _state(session)[VFS[3]] != ("available", None):
            assert time.monotonic() < deadline, "no sweep at startup freed the device"
            time.sleep(0.05)
