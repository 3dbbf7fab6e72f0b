"""The reconciler against the simulated NIC: save first, verify, restore, never half-configure."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from vfplane.agent.reconcile import Reconciler
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.sysfs import SysfsReader
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

SLOT = "0000:3b:02.1"
FRESH = VfConfig(mac="00:00:00:00:00:00")


@pytest.fixture
def host(tmp_path: Path) -> tuple[SimulatedNic, VfStateStore, list[PciDevice]]:
    LabSysfs(tmp_path / "root").add_card(PROFILES["x710"], pfs=1, vfs=4)
    devices = list(SysfsReader(tmp_path / "root").scan().devices)
    return SimulatedNic(tmp_path / "root"), VfStateStore(tmp_path / "state"), devices


def _port(**changes: Any) -> dict[str, Any]:
    port = {"port_id": "p1", "pci_slot": SLOT, "mac_address": "fa:16:3e:00:00:01", "vlan": 100,
            "admin_state_up": True, "port_security_enabled": True, "trusted": None,
            "propagate_uplink_status": False, "max_kbps": None, "min_kbps": None}  # fmt: skip
    return {**port, **changes}


def test_configure_then_restore(host: Any) -> None:
    nic, store, devices = host
    reconciler = Reconciler(nic, store)
    outcome = reconciler.run([_port()], devices)
    assert (outcome.up, outcome.applied, outcome.errors) == (["p1"], 1, {})
    vf = nic.read_vfs("ens1f0")[1]
    assert (vf.mac, vf.vlan, vf.link_state) == ("fa:16:3e:00:00:01", 100, LinkState.ENABLE)
    assert store.load_all()[PciAddress.parse(SLOT)].original == FRESH
    again = reconciler.run([_port()], devices)
    assert (again.up, again.applied) == (["p1"], 0)
    released = reconciler.run([], devices)
    assert released.down == ["p1"]
    assert nic.read_vfs("ens1f0")[1] == FRESH
    assert store.load_all() == {}
    assert reconciler.run([], devices).down == []  # restoring twice is a no-op


class FailingWriteNic:
    """The simulated NIC, whose next VF write stops half-way, as a driver can."""

    def __init__(self, inner: SimulatedNic) -> None:
        self.inner = inner

    def read_vfs(self, pf_ifname: str) -> dict[int, VfConfig]:
        return self.inner.read_vfs(pf_ifname)

    def write_vf(self, pf_ifname: str, vf_index: int, config: VfConfig) -> None:
        self.inner.fail_next(pf_ifname, errno.EOPNOTSUPP, field="link_state")
        self.inner.write_vf(pf_ifname, vf_index, config)

    def numvfs(self, pf_address: PciAddress) -> int:
        return self.inner.numvfs(pf_address)

    def set_numvfs(self, pf_address: PciAddress, count: int) -> None:
        self.inner.set_numvfs(pf_address, count)


def test_original_is_saved_before_a_failing_write(host: Any) -> None:
    nic, store, devices = host
    outcome = Reconciler(FailingWriteNic(nic), store).run([_port()], devices)
    assert nic.read_vfs("ens1f0")[1].mac == "fa:16:3e:00:00:01"  # half-written
    assert outcome.up == []
    assert "p1" in outcome.errors
    assert store.load_all()[PciAddress.parse(SLOT)].original == FRESH  # saved before the write
    retry = Reconciler(nic, store).run([_port()], devices)  # a new agent: full resync
    assert (retry.up, retry.errors) == (["p1"], {})
    assert Reconciler(nic, store).run([], devices).down == ["p1"]
    assert nic.read_vfs("ens1f0")[1] == FRESH  # the first original, not the half-written state


def test_bad_slots_are_per_port_errors(host: Any) -> None:
    nic, store, devices = host
    outcome = Reconciler(nic, store).run(
        [_port(), _port(port_id="p2", pci_slot="0000:99:00.0"), _port(port_id="p3", pci_slot=None)],
        devices,
    )
    assert outcome.up == ["p1"]
    assert "no VF with PCI address 0000:99:00.0" in outcome.errors["p2"]
    assert "no usable pci_slot" in outcome.errors["p3"]


def test_only_vfs_with_a_pf_netdev_are_configurable(host: Any) -> None:
    nic, store, devices = host
    no_pf_netdev = [d if d.dev_type is not DeviceType.VF else
                    PciDevice(d.address, d.vendor_id, d.product_id, d.dev_type,
                              parent_addr=d.parent_addr, vf_index=d.vf_index)
                    for d in devices]  # fmt: skip
    outcome = Reconciler(nic, store).run([_port()], no_pf_netdev)
    assert "no VF with PCI address" in outcome.errors["p1"]
