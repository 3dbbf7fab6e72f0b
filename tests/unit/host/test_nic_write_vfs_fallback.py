"""``nic.write_vfs``: a driver with only ``write_vf`` is written one VF at a time, in the
order given, and each VF that fails is reported instead of stopping the batch."""

from __future__ import annotations

import errno
from collections.abc import Mapping

import pytest

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.errors import DeviceBusy, DeviceNotFound, NicError, OutOfRange
from vfplane.host.nic import BatchWriter, write_vfs

A = VfConfig(mac="fa:16:3e:00:00:0a", vlan=100, link_state=LinkState.ENABLE)
B = VfConfig(mac="fa:16:3e:00:00:0b", vlan=200, trust=True)


class OneVfAtATime:
    """A hand-written ``NicDriver`` without ``write_vfs``: 4 VFs on ens1f0, and a list of
    the VFs that should refuse their next write."""

    def __init__(self) -> None:
        self.vfs: dict[str, dict[int, VfConfig]] = {"ens1f0": {}}
        self.calls: list[tuple[str, int]] = []
        self.refuse: dict[int, Exception] = {}

    def read_vfs(self, pf_ifname: str) -> dict[int, VfConfig]:
        return dict(self.vfs.get(pf_ifname, {}))

    def write_vf(self, pf_ifname: str, vf_index: int, config: VfConfig) -> None:
        self.calls.append((pf_ifname, vf_index))
        if pf_ifname not in self.vfs:
            raise DeviceNotFound(f"cannot set VF {vf_index} of {pf_ifname}: no such device")
        if vf_index in self.refuse:
            raise self.refuse.pop(vf_index)
        if not 0 <= vf_index < 4:
            raise OutOfRange(f"cannot set VF {vf_index} of {pf_ifname}", errno=errno.ERANGE)
        self.vfs[pf_ifname][vf_index] = config

    def numvfs(self, pf_address: PciAddress) -> int:
        return 4

    def set_numvfs(self, pf_address: PciAddress, count: int) -> None:
        raise NotImplementedError


class Batched(OneVfAtATime):
    """The same driver with ``write_vfs``: the helper must hand it the whole batch."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[str, dict[int, VfConfig]]] = []

    def write_vfs(self, pf_ifname: str, configs: Mapping[int, VfConfig]) -> dict[int, NicError]:
        self.batches.append((pf_ifname, dict(configs)))
        return {}


def test_a_driver_without_write_vfs_is_no_batch_writer() -> None:
    assert not isinstance(OneVfAtATime(), BatchWriter)
    assert isinstance(Batched(), BatchWriter)


def test_vfs_are_written_one_at_a_time_in_the_order_given() -> None:
    nic = OneVfAtATime()
    assert write_vfs(nic, "ens1f0", {3: A, 0: B, 2: A}) == {}
    assert nic.calls == [("ens1f0", 3), ("ens1f0", 0), ("ens1f0", 2)]
    assert nic.read_vfs("ens1f0") == {3: A, 0: B, 2: A}


def test_a_failing_vf_is_reported_and_the_later_ones_are_still_written() -> None:
    nic = OneVfAtATime()
    busy = DeviceBusy("cannot set VF 1 of ens1f0: busy", errno=errno.EBUSY)
    nic.refuse[1] = busy
    failures = write_vfs(nic, "ens1f0", {0: A, 1: B, 6: A, 3: B})
    assert list(failures) == [1, 6]
    assert failures[1] is busy  # the driver's own error, not a copy
    assert isinstance(failures[6], OutOfRange)
    assert nic.calls == [("ens1f0", 0), ("ens1f0", 1), ("ens1f0", 6), ("ens1f0", 3)]
    assert nic.read_vfs("ens1f0") == {0: A, 3: B}


def test_a_missing_pf_fails_every_vf_of_the_batch() -> None:
    nic = OneVfAtATime()
    failures = write_vfs(nic, "ens9f9", {0: A, 1: B})
    assert sorted(failures) == [0, 1]
    assert all(isinstance(exc, DeviceNotFound) for exc in failures.values())


def test_errors_other_than_nic_errors_are_not_swallowed() -> None:
    nic = OneVfAtATime()
    nic.refuse[0] = RuntimeError("a bug, not a NIC refusal")
    with pytest.raises(RuntimeError, match="a bug"):
        write_vfs(nic, "ens1f0", {0: A, 1: B})


def test_an_empty_batch_writes_nothing() -> None:
    nic = OneVfAtATime()
    assert write_vfs(nic, "ens1f0", {}) == {}
    assert nic.calls == []


def test_a_batch_writer_gets_the_whole_batch_and_no_single_writes() -> None:
    nic = Batched()
    assert write_vfs(nic, "ens1f0", {2: A, 1: B}) == {}
    assert nic.batches == [("ens1f0", {2: A, 1: B})]
    assert nic.calls == []
