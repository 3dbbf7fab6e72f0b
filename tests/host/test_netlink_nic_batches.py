"""``NetlinkNic.write_vfs`` against real kernel interfaces in a namespace of their own.

A veth has no VFs, so the kernel refuses every VF write: a batch reports each VF's
refusal instead of raising, and raises only when the PF itself cannot be used. The
batch on real VFs needs a PF named by ``VFPLANE_SRIOV_PF`` (marked ``sriov_hw``).
"""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from tests.host.test_netlink_nic import CONFIG, SRIOV_PF, needs_pf
from vfplane.domain.vfstate import LinkState
from vfplane.errors import DeviceNotFound, NotSupported
from vfplane.host.netlink_nic import NetlinkNic
from vfplane.host.nic import BatchWriter, write_vfs

OTHER = replace(CONFIG, mac="02:00:00:00:00:06", vlan=43)


def test_netlink_nic_is_a_batch_writer() -> None:
    assert isinstance(NetlinkNic(), BatchWriter)


def test_vf_writes_on_a_veth_are_refused_per_vf_not_raised(netns: str) -> None:
    nic = NetlinkNic(netns=netns)
    failures = nic.write_vfs("vf-a", {0: CONFIG, 3: OTHER})
    assert sorted(failures) == [0, 3]
    for index, exc in failures.items():
        assert isinstance(exc, NotSupported)
        assert exc.errno == errno.EOPNOTSUPP
        assert f"set VF {index} of vf-a" in str(exc)
        assert isinstance(exc.__cause__, NetlinkError)
    assert nic.read_vfs("vf-a") == {}


def test_the_write_vfs_helper_reports_the_same_refusals(netns: str) -> None:
    failures = write_vfs(NetlinkNic(netns=netns), "vf-b", {1: CONFIG, 2: OTHER})
    assert sorted(failures) == [1, 2]
    assert all(isinstance(exc, NotSupported) for exc in failures.values())


def test_an_empty_batch_on_a_veth_writes_nothing_and_fails_nothing(netns: str) -> None:
    assert NetlinkNic(netns=netns).write_vfs("vf-a", {}) == {}


def test_an_unknown_link_raises_for_the_whole_batch(netns: str) -> None:
    with pytest.raises(DeviceNotFound, match="set the VFs of nope0") as info:
        NetlinkNic(netns=netns).write_vfs("nope0", {0: CONFIG, 1: OTHER})
    assert info.value.errno == errno.ENODEV
    assert isinstance(info.value.__cause__, NetlinkError)


def test_a_missing_namespace_raises_for_the_whole_batch(netns: str) -> None:
    with pytest.raises(DeviceNotFound):
        NetlinkNic(netns=f"{netns}-missing").write_vfs("vf-a", {0: CONFIG})


# --- real SR-IOV hardware only ---


@pytest.mark.sriov_hw
@needs_pf
def test_real_batch_writes_read_back_and_an_unknown_vf_fails_alone() -> None:
    nic = NetlinkNic()
    vfs = nic.read_vfs(SRIOV_PF)
    assert len(vfs) >= 2, f"{SRIOV_PF} needs two VFs; create some first"
    first, last = min(vfs), max(vfs)
    originals = {first: vfs[first], last: vfs[last]}
    wanted = {
        first: replace(vfs[first], mac="02:00:00:00:00:41", vlan=41, link_state=LinkState.DISABLE),
        last: replace(vfs[last], mac="02:00:00:00:00:42", vlan=42, link_state=LinkState.DISABLE),
    }
    missing = last + 1000
    try:
        failures = nic.write_vfs(SRIOV_PF, {first: wanted[first], missing: CONFIG,
                                            last: wanted[last]})  # fmt: skip
        assert list(failures) == [missing]
        seen = nic.read_vfs(SRIOV_PF)
        assert {first: seen[first], last: seen[last]} == wanted
    finally:
        assert nic.write_vfs(SRIOV_PF, originals) == {}
    seen = nic.read_vfs(SRIOV_PF)
    assert {first: seen[first], last: seen[last]} == originals
