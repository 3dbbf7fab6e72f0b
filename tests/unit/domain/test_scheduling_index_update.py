"""A host index follows a newer snapshot of its host without building its pools again.

``HostIndex.updated`` must give exactly the index a fresh build gives: the same free
devices in the same pools, the same counts, the same fingerprint.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from tests.unit.domain.test_scheduling import host, nic

from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.scheduling import HostCandidate, HostIndex, SchedDevice

STATUSES = (DeviceStatus.AVAILABLE, DeviceStatus.CLAIMED, DeviceStatus.ALLOCATED,
            DeviceStatus.UNAVAILABLE, DeviceStatus.UNCLAIMABLE)  # fmt: skip


def _picture(index: HostIndex) -> tuple[object, ...]:
    pools = tuple((p.signature, tuple(p.free), p.usable, p.total) for p in index.pools)
    return pools, index.free_devices, index.fingerprint(), index.vcpus_used


def _with_statuses(base: HostCandidate, rng: random.Random) -> HostCandidate:
    devices = tuple(
        dataclasses.replace(d, status=rng.choice(STATUSES)) if rng.random() < 0.3 else d
        for d in base.devices
    )
    return dataclasses.replace(base, devices=devices, vcpus_used=rng.randrange(8))


@pytest.mark.parametrize("seed", range(40))
def test_updated_equals_a_fresh_build(seed: int) -> None:
    rng = random.Random(seed)
    base = host("h1", [*nic(0x3B, 6), *nic(0xAF, 6, physnet="physnet2", numa=1)])
    index = HostIndex(base)
    for _ in range(5):
        newer = _with_statuses(base, rng)
        index = index.updated(newer)
        assert _picture(index) == _picture(HostIndex(newer))


def test_updated_builds_again_when_devices_change() -> None:
    base = host("h1", nic(0x3B, 4))
    fewer = dataclasses.replace(base, devices=base.devices[:-1])
    retagged = dataclasses.replace(base, devices=tuple(
        SchedDevice(d.address, d.vendor_id, d.product_id, d.dev_type, d.parent_addr,
                    d.numa_node, {"physical_network": "physnet7"}, d.status)
        for d in base.devices))  # fmt: skip
    index = HostIndex(base)
    for newer in (fewer, retagged):
        assert _picture(index.updated(newer)) == _picture(HostIndex(newer))


def test_updated_leaves_the_older_index_alone() -> None:
    base = host("h1", nic(0x3B, 4))
    index = HostIndex(base)
    before = _picture(index)
    claimed = tuple(dataclasses.replace(d, status=DeviceStatus.CLAIMED) for d in base.devices)
    index.updated(dataclasses.replace(base, devices=claimed))
    assert _picture(index) == before
