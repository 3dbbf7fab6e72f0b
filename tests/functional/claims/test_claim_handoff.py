"""A claim hands its result to the ``HostView`` that decided it only while that view's
picture of the host was current: never when another process (or anything else) changed the
host in between, on every backend.

Each test uses hosts and a physical network of its own, as in ``test_host_view``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from tests.functional.api.conftest import Database
from tests.functional.claims.test_host_view import PF, Cloud, _vf
from tests.functional.claims.test_host_view import cloud as cloud
from vfplane.api.deps import utc_now
from vfplane.db import engine as engine_module
from vfplane.db import schedule_stamps
from vfplane.db.compute_tables import Server
from vfplane.db.tables import PciDeviceRecord
from vfplane.domain.pci import PciAddress
from vfplane.domain.scheduling import Decision
from vfplane.service import claims
from vfplane.service.host_view import HostView
from vfplane.service.servers import claim_best


@contextmanager
def _device_reads(cloud: Cloud) -> Iterator[list[str]]:
    """The statements that read device rows while the block runs."""
    seen: list[str] = []
    bind = cloud.sessions.kw["bind"]

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "pci_devices" in statement:
            seen.append(statement)

    event.listen(bind, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(bind, "before_cursor_execute", record)


def _free_vfs(decision: Decision) -> set[PciAddress]:
    assert decision.fits
    return set(decision.candidates[0].addresses)


def _decide(cloud: Cloud, view: HostView) -> Decision:
    with cloud.sessions() as session:
        return view.decide(session, cloud.request())


def _claim_vf(session: Session, cloud: Cloud, vf: int, owner: str = "") -> None:
    owner = owner or str(uuid.uuid4())
    claims.claim(session, cloud.host(1), owner, {"r": [_vf(vf)]})


def test_a_claim_is_handed_to_its_view_without_reading_the_host(cloud: Cloud) -> None:
    cloud.register(1, vfs=2)
    view = HostView()
    with cloud.sessions() as session:
        candidate, _ = claim_best(session, str(uuid.uuid4()), cloud.request(), view)
    assert candidate is not None
    assert candidate.addresses == (_vf(0),)
    with _device_reads(cloud) as reads:
        assert _free_vfs(_decide(cloud, view)) == {_vf(1)}
    assert reads == []  # the view applied its own claim
    with cloud.sessions() as session:
        candidate, _ = claim_best(session, str(uuid.uuid4()), cloud.request(), view)
    assert candidate is not None
    assert candidate.addresses == (_vf(1),)
    assert not _decide(cloud, view).fits
    assert not _decide(cloud, HostView()).fits  # a fresh picture agrees


def test_a_claim_after_another_process_changed_the_host_is_not_handed_over(
    cloud: Cloud,
) -> None:
    cloud.register(1, vfs=3)
    view, other = HostView(), HostView()
    assert _free_vfs(_decide(cloud, other)) == {_vf(0)}
    with cloud.sessions() as session:
        assert _free_vfs(view.decide(session, cloud.request())) == {_vf(0)}
        with cloud.sessions() as meanwhile:  # another process, between decision and claim
            other.decide(meanwhile, cloud.request())
            _claim_vf(meanwhile, cloud, 1)
        _claim_vf(session, cloud, 0)
    # a stale hand-off would leave VF 1 free in the picture
    assert _free_vfs(_decide(cloud, view)) == {_vf(2)}
    assert _free_vfs(_decide(cloud, other)) == {_vf(2)}


def test_a_claim_waiting_for_another_writer_on_the_host_is_not_handed_over(
    cloud: Cloud,
) -> None:
    """The other writer holds the host while this claim waits for it: the stamp compared
    is the one the other writer leaves, not the one before it."""
    cloud.register(1, vfs=3)
    view = HostView()
    errors: list[BaseException] = []
    with cloud.sessions() as session, cloud.sessions() as writer:
        view.decide(session, cloud.request())
        schedule_stamps.stamp(writer, [cloud.host(1)])  # holds the host until it commits
        vf1 = (PciDeviceRecord.host == cloud.host(1), PciDeviceRecord.address == str(_vf(1)))
        writer.execute(update(PciDeviceRecord).where(*vf1).values(
            status="unavailable", generation=PciDeviceRecord.generation + 1))  # fmt: skip

        def claim() -> None:
            try:
                _claim_vf(session, cloud, 0)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        claimer = threading.Thread(target=claim)
        claimer.start()
        time.sleep(0.3)  # the claim is waiting for the host
        writer.commit()
        claimer.join(timeout=30)
    assert not claimer.is_alive()
    assert errors == []
    assert _free_vfs(_decide(cloud, view)) == {_vf(2)}


def test_a_claim_committed_with_other_changes_of_the_host_is_not_handed_over(
    cloud: Cloud,
) -> None:
    """Changes the session still holds are committed (and stamped) with the claim."""
    cloud.register(1, vfs=2)
    view = HostView()
    now = utc_now()
    with cloud.sessions() as session:
        assert view.decide(session, cloud.request()).fits
        session.add(Server(id=str(uuid.uuid4()), project_id="p", user_id="u", name="big",
                           flavor_id="f", flavor={"vcpus": 64, "ram": 512},
                           host=cloud.host(1), status="BUILD", vm_state="building",
                           power_state=0, ports=[], created_ports=[], pci_requests=[],
                           created_at=now, updated_at=now))  # fmt: skip
        _claim_vf(session, cloud, 0)
    decision = _decide(cloud, view)
    assert not decision.fits  # the server took every vCPU (16 x 4)
    assert not _decide(cloud, HostView()).fits


def test_frees_and_claims_by_hand_keep_the_picture_current(cloud: Cloud) -> None:
    cloud.register(1, vfs=2)
    view = HostView()
    with cloud.sessions() as session:
        view.decide(session, cloud.request())
        _claim_vf(session, cloud, 0, owner="vm-a")
        view.decide(session, cloud.request())
        _claim_vf(session, cloud, 1, owner="vm-b")
        assert not view.decide(session, cloud.request()).fits
        assert claims.free(session, cloud.host(1), "vm-a") == [_vf(0)]
        with _device_reads(cloud) as reads:
            assert _free_vfs(view.decide(session, cloud.request())) == {_vf(0)}
        assert reads == []
        pf = session.scalar(select(PciDeviceRecord.status).where(
            PciDeviceRecord.host == cloud.host(1), PciDeviceRecord.address == PF))  # fmt: skip
        assert pf == "unclaimable"


def test_a_pooled_connection_idle_too_long_is_checked_before_use(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server to lose")
    monkeypatch.setattr(engine_module, "PING_IDLE_S", 0.0)
    engine = engine_module.make_engine(database.url)
    try:
        with engine.connect() as connection:
            pid = connection.scalar(text("SELECT pg_backend_pid()"))
        with database.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        time.sleep(0.1)
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        engine.dispose()


def test_two_processes_claiming_at_once_never_share_a_vf(cloud: Cloud, database: Database) -> None:
    """Two server processes (engines and views of their own) claim with hand-offs at once:
    every VF goes to one instance, and each view's picture ends as the database's."""
    cloud.register(1, vfs=8)
    cloud.register(2, vfs=8)
    won: dict[str, tuple[str, PciAddress]] = {}
    errors: list[BaseException] = []
    views = [HostView(), HostView()]

    def process(view: HostView) -> None:
        engine = engine_module.make_engine(database.url)
        sessions = engine_module.make_session_factory(engine)
        try:
            for _ in range(12):
                instance = str(uuid.uuid4())
                with sessions() as session:
                    candidate, _ = claim_best(session, instance, cloud.request(), view)
                if candidate is not None:
                    (address,) = candidate.addresses
                    won[instance] = (candidate.host, address)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=process, args=(view,)) for view in views]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(won) == 16  # every VF of both hosts, each once
    assert len(set(won.values())) == 16
    with cloud.sessions() as session:
        rows = session.execute(select(PciDeviceRecord.host, PciDeviceRecord.address,
                                      PciDeviceRecord.instance_id).where(
            PciDeviceRecord.host.in_([cloud.host(1), cloud.host(2)]),
            PciDeviceRecord.dev_type == "type-VF")).all()  # fmt: skip
    assert {row.instance_id: (row.host, PciAddress.parse(row.address)) for row in rows} == won
    for view in views:
        assert not _decide(cloud, view).fits
