"""The device state machine follows Nova's PF/VF rules."""

from __future__ import annotations

import pytest

from vfplane.domain.device_states import DeviceStatus, DeviceTree, TrackedDevice
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.errors import (
    DeviceInvalidOwner,
    DeviceInvalidStatus,
    DevicePFInvalidStatus,
    DeviceStateError,
    DeviceVFInvalidStatus,
)

PF = PciAddress.parse("0000:3b:00.0")
VF0 = PciAddress.parse("0000:3b:02.0")
VF1 = PciAddress.parse("0000:3b:02.1")
LONE = PciAddress.parse("0000:5e:00.0")


def _tree() -> DeviceTree:
    pf = PciDevice(PF, "8086", "1572", DeviceType.PF)
    vfs = [PciDevice(a, "8086", "154c", DeviceType.VF, parent_addr=PF) for a in (VF0, VF1)]
    lone = PciDevice(LONE, "8086", "10fb", DeviceType.PCI)
    return DeviceTree([pf, *vfs, lone])


def test_vf_lifecycle_claim_allocate_free() -> None:
    tree = _tree()
    tree[VF0].claim("vm-1", "req-1")
    assert tree[VF0].status is DeviceStatus.CLAIMED
    assert tree[PF].status is DeviceStatus.UNCLAIMABLE
    tree[VF0].allocate("vm-1")
    assert tree[VF0].status is DeviceStatus.ALLOCATED
    assert tree[VF0].request_id == "req-1"
    assert tree[PF].status is DeviceStatus.UNAVAILABLE
    freed = tree[VF0].free("vm-1")
    assert {d.address for d in freed} == {VF0, PF}
    assert tree[VF0].status is DeviceStatus.AVAILABLE
    assert tree[VF0].instance_id is None
    assert tree[VF0].request_id is None
    assert tree[PF].status is DeviceStatus.AVAILABLE


def test_pf_becomes_available_only_when_all_vfs_are_free() -> None:
    tree = _tree()
    tree[VF0].allocate("vm-1")
    tree[VF1].allocate("vm-2")
    freed = tree[VF0].free()
    assert [d.address for d in freed] == [VF0]
    assert tree[PF].status is DeviceStatus.UNAVAILABLE
    tree[VF1].free()
    assert tree[PF].status is DeviceStatus.AVAILABLE


def test_pf_claim_makes_vfs_unclaimable_and_allocate_unavailable() -> None:
    tree = _tree()
    tree[PF].claim("vm-1")
    assert {tree[VF0].status, tree[VF1].status} == {DeviceStatus.UNCLAIMABLE}
    tree[PF].allocate("vm-1")
    assert {tree[VF0].status, tree[VF1].status} == {DeviceStatus.UNAVAILABLE}
    freed = tree[PF].free("vm-1")
    assert {d.address for d in freed} == {PF, VF0, VF1}
    assert all(t.status is DeviceStatus.AVAILABLE for t in tree)


def test_pf_with_a_vf_in_use_cannot_be_claimed_or_allocated() -> None:
    tree = _tree()
    tree[VF0].allocate("vm-1")
    tree[PF].status = DeviceStatus.AVAILABLE  # drift, as in Nova bug 1969496
    with pytest.raises(DeviceVFInvalidStatus, match=r"VFs are in use: 0000:3b:02\.0"):
        tree[PF].claim("vm-2")
    with pytest.raises(DeviceVFInvalidStatus):
        tree[PF].allocate("vm-2")


def test_pf_claim_tolerates_vfs_only_blocked_by_family() -> None:
    tree = _tree()
    tree[VF1].status = DeviceStatus.UNAVAILABLE
    tree[PF].claim("vm-1")
    assert tree[PF].status is DeviceStatus.CLAIMED


def test_vf_of_a_used_pf_cannot_be_claimed() -> None:
    tree = _tree()
    tree[PF].allocate("vm-1")
    tree[VF0].status = DeviceStatus.AVAILABLE  # drift
    with pytest.raises(DevicePFInvalidStatus, match=r"its PF 0000:3b:00\.0 is allocated"):
        tree[VF0].claim("vm-2")
    with pytest.raises(DevicePFInvalidStatus):
        tree[VF0].allocate("vm-2")


def test_claim_requires_available() -> None:
    tree = _tree()
    tree[VF0].claim("vm-1")
    with pytest.raises(DeviceInvalidStatus, match="it is claimed, expected available"):
        tree[VF0].claim("vm-2")


def test_allocate_of_a_claim_by_another_instance_is_refused() -> None:
    tree = _tree()
    tree[VF0].claim("vm-1")
    with pytest.raises(DeviceInvalidOwner, match="belongs to instance vm-1"):
        tree[VF0].allocate("vm-2")


def test_free_requires_claimed_or_allocated_and_the_owner() -> None:
    tree = _tree()
    with pytest.raises(DeviceInvalidStatus):
        tree[VF0].free()
    tree[VF0].allocate("vm-1")
    with pytest.raises(DeviceInvalidOwner):
        tree[VF0].free("vm-2")


def test_remove_only_unused_devices() -> None:
    tree = _tree()
    tree[VF0].allocate("vm-1")
    with pytest.raises(DeviceInvalidStatus):
        tree[VF0].remove()
    tree[PF].remove()  # unavailable because of its VF, but unowned: Nova allows it
    assert tree[PF].status is DeviceStatus.REMOVED
    tree[LONE].remove()
    assert tree[LONE].status is DeviceStatus.REMOVED
    with pytest.raises(DeviceInvalidStatus):
        tree[LONE].claim("vm-1")


def test_removed_owned_device_is_refused() -> None:
    tracked = TrackedDevice(PciDevice(LONE, "8086", "10fb", DeviceType.PCI))
    tracked.status = DeviceStatus.UNCLAIMABLE
    tracked.instance_id = "vm-9"
    with pytest.raises(DeviceInvalidOwner):
        tracked.remove()


def test_type_pci_device_has_no_family_effects() -> None:
    tree = _tree()
    tree[LONE].claim("vm-1")
    tree[LONE].allocate("vm-1")
    assert tree.statuses()[PF] is DeviceStatus.AVAILABLE
    assert tree[LONE].free() == [tree[LONE]]


def test_vf_without_its_pf_in_the_tree_still_works() -> None:
    orphan = PciDevice(VF0, "8086", "154c", DeviceType.VF, parent_addr=PF)
    tree = DeviceTree([orphan])
    tree[VF0].claim("vm-1")
    tree[VF0].allocate("vm-1")
    assert tree[VF0].free() == [tree[VF0]]


def test_errors_share_one_root() -> None:
    tree = _tree()
    with pytest.raises(DeviceStateError):
        tree[VF0].free()
    assert len(tree) == 4
    assert [t.address for t in tree] == sorted([PF, VF0, VF1, LONE])
