"""The scheduler's in-process picture of the hosts follows the database, on every backend.

Each test uses hosts and a physical network of its own (the database is shared by the
session), and several ``HostView`` objects stand for several server processes.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.functional.api.conftest import Database
from vfplane.api.deps import ApiDependencies, utc_now
from vfplane.db import schedule_stamps
from vfplane.db.compute_tables import Server
from vfplane.db.engine import make_session_factory
from vfplane.db.tables import Host, PciDeviceRecord
from vfplane.domain.pci import PciAddress
from vfplane.domain.requests import port_request
from vfplane.domain.scheduling import InstanceRequest
from vfplane.service import claims
from vfplane.service.context import SERVICE, RequestContext
from vfplane.service.host_view import ComputeConfig, HostView
from vfplane.service.hosts import HostReport, register_host
from vfplane.service.servers import claim_best
from vfplane.settings import Settings

AGENT = RequestContext("agent", "service", frozenset({SERVICE}))
PF = "0000:5e:00.0"


@dataclass
class Cloud:
    sessions: sessionmaker[Session]
    physnet: str
    prefix: str

    def host(self, n: int) -> str:
        return f"{self.prefix}-{n}"

    def register(self, n: int, vfs: int) -> None:
        """Register host ``n`` with one PF and ``vfs`` VFs on this test's physnet."""
        tags = {"physical_network": self.physnet}
        devices = [{"address": PF, "vendor_id": "8086", "product_id": "1572",
                    "dev_type": "type-PF", "numa_node": 0, "tags": tags}]  # fmt: skip
        devices += [{"address": f"0000:5e:{2 + i // 8:02x}.{i % 8}", "vendor_id": "8086",
                     "product_id": "154c", "dev_type": "type-VF", "parent_addr": PF,
                     "numa_node": 0, "tags": tags} for i in range(vfs)]  # fmt: skip
        report = HostReport(self.host(n), 16, 32768, ({"id": 0},), {}, devices)
        with self.sessions() as session:
            register_host(session, AGENT, report, utc_now())

    def request(self) -> InstanceRequest:
        found = port_request(str(uuid.uuid4()), "direct", self.physnet, None, None,
                             lambda: str(uuid.uuid4()))  # fmt: skip
        assert found is not None
        return InstanceRequest(1, 512, [found])


@pytest.fixture
def cloud(database: Database) -> Cloud:
    prefix = f"view-{uuid.uuid4().hex[:8]}"
    return Cloud(make_session_factory(database.engine), f"physnet-{prefix}", prefix)


def _claim(cloud: Cloud, view: HostView) -> str | None:
    """Claim one VF for a new instance through ``view``; the host, or None when none fit."""
    with cloud.sessions() as session:
        candidate, _ = claim_best(session, str(uuid.uuid4()), cloud.request(), view)
    return candidate.host if candidate else None


def test_stamps_move_with_inventory_claims_and_servers(cloud: Cloud) -> None:
    cloud.register(1, vfs=2)
    with cloud.sessions() as session:
        stamps, watermark = schedule_stamps.changed_since(session, 0)
        first = stamps[cloud.host(1)]
        session.rollback()
        claims.claim(session, cloud.host(1), "vm-1", {"r": [_vf(0)]})
        stamps, watermark = schedule_stamps.changed_since(session, watermark)
        assert stamps[cloud.host(1)] != first
        session.rollback()
        now = utc_now()
        session.add(Server(id=str(uuid.uuid4()), project_id="p", user_id="u", name="s",
                           flavor_id="f", flavor={"vcpus": 1, "ram": 512}, host=cloud.host(1),
                           status="BUILD", vm_state="building", power_state=0, ports=[],
                           created_ports=[], pci_requests=[], created_at=now,
                           updated_at=now))  # fmt: skip
        session.commit()
        stamps, watermark = schedule_stamps.changed_since(session, watermark)
        assert cloud.host(1) in stamps
        session.rollback()
        stamps, _ = schedule_stamps.changed_since(session, watermark)
        assert cloud.host(1) not in stamps  # nothing changed since


def test_a_view_sees_the_claims_of_another_process(cloud: Cloud) -> None:
    cloud.register(1, vfs=2)
    first, second = HostView(), HostView()
    assert _claim(cloud, first) == cloud.host(1)
    assert _claim(cloud, second) == cloud.host(1)  # the other VF: it saw the first claim
    with cloud.sessions() as session:
        decision = first.decide(session, cloud.request())
    assert not decision.fits
    assert f"has 0 free VFs on {cloud.physnet}" in decision.summary
    with cloud.sessions() as session:
        claims.free(session, cloud.host(1), _owner(session, cloud.host(1)))
    assert _claim(cloud, second) == cloud.host(1)


def test_a_view_sees_new_hosts_and_removed_devices(cloud: Cloud) -> None:
    view = HostView()
    assert _claim(cloud, view) is None
    cloud.register(1, vfs=1)
    assert _claim(cloud, view) == cloud.host(1)
    cloud.register(2, vfs=2)
    cloud.register(2, vfs=0)  # the agent reports its VFs gone
    assert _claim(cloud, view) is None


def test_warm_reads_every_host_before_the_first_decision(cloud: Cloud) -> None:
    cloud.register(1, vfs=1)
    view = HostView()
    assert len(view) == 0
    view.warm(cloud.sessions)
    with cloud.sessions() as session:
        assert len(view) == session.scalar(select(func.count()).select_from(Host))


def test_forget_reads_a_host_again(cloud: Cloud) -> None:
    """A change written past the stamps (as by hand) is seen once a lost claim forgets the host."""
    cloud.register(1, vfs=1)
    view = HostView()
    with cloud.sessions() as session:
        assert view.decide(session, cloud.request()).fits
        vfs = (PciDeviceRecord.host == cloud.host(1), PciDeviceRecord.dev_type == "type-VF")
        session.execute(update(PciDeviceRecord).where(*vfs).values(status="unavailable"))
        session.commit()
        assert view.decide(session, cloud.request()).fits  # no stamp: not seen
        view.forget(cloud.host(1))
        assert not view.decide(session, cloud.request()).fits


def test_no_commit_is_missed_whatever_order_transactions_commit_in(
    cloud: Cloud, database: Database
) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: stamps commit in their order")
    cloud.register(1, vfs=1)
    cloud.register(2, vfs=1)
    with cloud.sessions() as reader:
        _, watermark = schedule_stamps.changed_since(reader, 0)
        reader.rollback()
        with cloud.sessions() as early, cloud.sessions() as late:
            schedule_stamps.stamp(early, [cloud.host(1)])  # the older transaction ...
            schedule_stamps.stamp(late, [cloud.host(2)])
            late.commit()  # ... commits last
            stamps, watermark = schedule_stamps.changed_since(reader, watermark)
            reader.rollback()
            assert cloud.host(2) in stamps
            assert cloud.host(1) not in stamps
            early.commit()
        stamps, _ = schedule_stamps.changed_since(reader, watermark)
        assert cloud.host(1) in stamps


def _vf(i: int) -> PciAddress:
    return PciAddress.parse(f"0000:5e:{2 + i // 8:02x}.{i % 8}")


def _owner(session: Session, host: str) -> str:
    query = select(PciDeviceRecord.instance_id).where(
        PciDeviceRecord.host == host, PciDeviceRecord.instance_id.is_not(None)
    )
    return str(session.scalars(query).first())


def test_a_host_subset_spreads_the_first_claims_over_equal_hosts(cloud: Cloud) -> None:
    for n in range(4):
        cloud.register(n, 4)
    packing = [_claim(cloud, HostView()) for _ in range(4)]
    assert len(set(packing)) == 1  # the PCI weigher packs: one host fills first
    random.seed(11)
    spread = HostView(ComputeConfig(host_subset_size=4))
    assert len({_claim(cloud, spread) for _ in range(4)}) > 1


def test_the_host_subset_size_setting_reaches_the_scheduler(database: Database) -> None:
    settings = Settings.model_validate({"compute": {"host_subset_size": 5}})
    deps = ApiDependencies.from_settings(settings, make_session_factory(database.engine))
    assert deps.host_view.config.host_subset_size == 5
