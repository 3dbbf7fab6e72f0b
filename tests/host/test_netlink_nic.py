"""NetlinkNic against real kernel interfaces in a network namespace of its own.

The namespace holds a veth pair: enough for link lookups, reads of links without
VFs and the kernel's refusal of VF writes. VF-only calls need a real PF, named by
``VFPLANE_SRIOV_PF``; those tests are marked ``sriov_hw`` and skipped without one.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # type: ignore[import-untyped]
from pyroute2.requests.link import LinkIPRouteFilter  # type: ignore[import-untyped]

from tests.host.conftest import run_ip
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.errors import DeviceNotFound, NotSupported
from vfplane.host.netlink_nic import NetlinkNic, vf_request, vfs_from_link
from vfplane.host.nic import NicDriver
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

CONFIG = VfConfig("02:00:00:00:00:05", 42, 3, False, True, LinkState.ENABLE, 5, 50)


def test_link_lookup_by_name_finds_the_kernels_index(netns: str) -> None:
    shown = json.loads(run_ip("-n", netns, "-j", "link", "show", "vf-b").stdout)
    assert NetlinkNic(netns=netns).ifindex("vf-b") == shown[0]["ifindex"]


def test_unknown_link_is_not_found(netns: str) -> None:
    with pytest.raises(DeviceNotFound, match="nope0") as info:
        NetlinkNic(netns=netns).ifindex("nope0")
    assert info.value.errno == errno.ENODEV
    assert isinstance(info.value.__cause__, NetlinkError)
    with pytest.raises(DeviceNotFound):
        NetlinkNic(netns=netns).read_vfs("nope0")


def test_link_without_sriov_has_no_vfs(netns: str) -> None:
    assert NetlinkNic(netns=netns).read_vfs("vf-a") == {}


def test_vf_write_on_a_veth_is_refused_by_the_kernel(netns: str) -> None:
    with pytest.raises(NotSupported, match="set VF 0 of vf-a") as info:
        NetlinkNic(netns=netns).write_vf("vf-a", 0, CONFIG)
    assert info.value.errno == errno.EOPNOTSUPP
    assert isinstance(info.value.__cause__, NetlinkError)


def test_missing_namespace_is_not_found_and_not_created(netns: str) -> None:
    missing = f"{netns}-missing"
    with pytest.raises(DeviceNotFound):
        NetlinkNic(netns=missing).ifindex("lo")
    assert not Path("/run/netns", missing).exists()


# --- messages: what is sent is what is read back ---


def test_vf_request_round_trips_through_a_netlink_message() -> None:
    request = LinkIPRouteFilter("set").set_vf({}, vf_request(7, CONFIG))
    message = ifinfmsg()
    message["attrs"] = [("IFLA_VFINFO_LIST", request["IFLA_VFINFO_LIST"])]
    message.encode()
    decoded = ifinfmsg(message.data)
    decoded.decode()
    assert vfs_from_link(decoded) == {7: CONFIG}


def test_vf_request_sends_both_rates_together() -> None:
    assert vf_request(0, replace(CONFIG, min_tx_rate=0))["rate"] == {
        "min_tx_rate": 0,
        "max_tx_rate": 50,
    }


def test_vf_request_leaves_out_what_does_not_change() -> None:
    current = replace(CONFIG, link_state=LinkState.AUTO, max_tx_rate=0)
    assert vf_request(3, CONFIG, current) == {
        "vf": 3,
        "rate": {"min_tx_rate": 5, "max_tx_rate": 50},
        "link_state": 1,
    }
    assert vf_request(3, CONFIG, CONFIG) == {"vf": 3}
    assert vf_request(3, CONFIG, replace(CONFIG, qos=0))["vlan"] == {"vlan": 42, "qos": 3}


def test_drivers_without_spoofchk_or_trust_read_as_defaults() -> None:
    unsupported = 0xFFFFFFFF
    message = ifinfmsg()
    vf_attrs = [
        ("IFLA_VF_MAC", {"vf": 0, "mac": "02:00:00:00:00:01"}),
        ("IFLA_VF_TX_RATE", {"vf": 0, "tx_rate": 30}),
        ("IFLA_VF_SPOOFCHK", {"vf": 0, "spoofchk": unsupported}),
        ("IFLA_VF_TRUST", {"vf": 0, "trust": unsupported}),
    ]
    message["attrs"] = [("IFLA_VFINFO_LIST", {"attrs": [("IFLA_VF_INFO", {"attrs": vf_attrs})]})]
    message.encode()
    decoded = ifinfmsg(message.data)
    decoded.decode()
    assert vfs_from_link(decoded) == {0: VfConfig("02:00:00:00:00:01", max_tx_rate=30)}


# --- sriov_numvfs through sysfs under a root ---


@pytest.fixture
def lab_pf(tmp_path: Path) -> tuple[Path, PciDevice]:
    lab = LabSysfs(tmp_path / "host")
    devices = lab.add_card(PROFILES["e810"], pfs=1, vfs=3)
    return lab.root, next(d for d in devices if d.dev_type is DeviceType.PF)


def test_numvfs_reads_sysfs_under_the_root(lab_pf: tuple[Path, PciDevice]) -> None:
    root, pf = lab_pf
    driver: NicDriver = NetlinkNic(root)
    assert driver.numvfs(pf.address) == 3


def test_set_numvfs_writes_sysfs_under_the_root(lab_pf: tuple[Path, PciDevice]) -> None:
    root, pf = lab_pf
    NetlinkNic(root).set_numvfs(pf.address, 0)
    path = root / "sys" / "bus" / "pci" / "devices" / str(pf.address) / "sriov_numvfs"
    assert path.read_text() == "0\n"


def test_numvfs_of_a_missing_device_is_not_found(lab_pf: tuple[Path, PciDevice]) -> None:
    root, _ = lab_pf
    missing = PciAddress.parse("0000:99:00.0")
    with pytest.raises(DeviceNotFound):
        NetlinkNic(root).numvfs(missing)
    with pytest.raises(DeviceNotFound):
        NetlinkNic(root).set_numvfs(missing, 1)


# --- real SR-IOV hardware only ---

SRIOV_PF = os.environ.get("VFPLANE_SRIOV_PF", "")
needs_pf = pytest.mark.skipif(not SRIOV_PF, reason="set VFPLANE_SRIOV_PF to a PF netdev")


@pytest.mark.sriov_hw
@needs_pf
def test_real_pf_lists_its_vfs() -> None:
    assert NetlinkNic().read_vfs(SRIOV_PF), f"{SRIOV_PF} has no VFs; create some first"


@pytest.mark.sriov_hw
@needs_pf
def test_real_vf_write_reads_back_and_is_restored() -> None:
    nic = NetlinkNic()
    vfs = nic.read_vfs(SRIOV_PF)
    index = max(vfs)
    original = vfs[index]
    wanted = replace(original, mac="02:00:00:00:00:42", vlan=42, link_state=LinkState.DISABLE)
    try:
        nic.write_vf(SRIOV_PF, index, wanted)
        assert nic.read_vfs(SRIOV_PF)[index] == wanted
    finally:
        nic.write_vf(SRIOV_PF, index, original)
    assert nic.read_vfs(SRIOV_PF)[index] == original
