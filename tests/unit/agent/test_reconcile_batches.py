"""The reconciler's batches against the simulated NIC: every original durable before any
write, one batch and one read-back per PF, and every failure confined to its port."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from vfplane.agent.reconcile import Reconciler
from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import SavedVf, VfConfig, VfRef
from vfplane.errors import DeviceNotFound, NicError
from vfplane.host.simulated_nic import SimulatedNic
from vfplane.host.sysfs import SysfsReader
from vfplane.host.vf_state_store import VfStateStore
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

FRESH = VfConfig(mac="00:00:00:00:00:00")
# An X710 with two PFs: ens1f0's VFs are 3b:02.0-3, ens1f1's 3b:0a.0-3.
P1_SLOT, P2_SLOT, P3_SLOT = "0000:3b:02.1", "0000:3b:02.2", "0000:3b:0a.1"


class RecordingStore(VfStateStore):
    """The real store, writing what it does to ``events``; its next ``failing_syncs``
    directory syncs fail as an fsync returning EIO would."""

    def __init__(self, state_dir: Path, events: list[str]) -> None:
        super().__init__(state_dir)
        self.events = events
        self.failing_syncs = 0

    def save(self, vf: VfRef, saved: SavedVf, *, sync: bool = True) -> None:
        self.events.append(f"save {vf.address}")
        super().save(vf, saved, sync=sync)

    def forget(self, address: PciAddress, *, sync: bool = True) -> None:
        self.events.append(f"forget {address}")
        super().forget(address, sync=sync)

    def sync(self) -> None:
        self.events.append("sync")
        if self.failing_syncs:
            self.failing_syncs -= 1
            raise NicError(f"cannot sync {self.state_dir}: Input/output error [EIO]", errno=5)
        super().sync()


class RecordingNic:
    """The simulated NIC, writing its calls to ``events``; ``before_write`` runs just
    before each batch reaches the NIC (to look at the store, or to inject a failure)."""

    def __init__(self, inner: SimulatedNic, events: list[str]) -> None:
        self.inner = inner
        self.events = events
        self.before_write: Callable[[str, Mapping[int, VfConfig]], None] = lambda pf, cfg: None

    def read_vfs(self, pf_ifname: str) -> dict[int, VfConfig]:
        self.events.append(f"read {pf_ifname}")
        return self.inner.read_vfs(pf_ifname)

    def write_vf(self, pf_ifname: str, vf_index: int, config: VfConfig) -> None:
        raise AssertionError("a batch writer is written in batches")

    def write_vfs(self, pf_ifname: str, configs: Mapping[int, VfConfig]) -> dict[int, NicError]:
        self.events.append(f"write {pf_ifname} {sorted(configs)}")
        self.before_write(pf_ifname, configs)
        return self.inner.write_vfs(pf_ifname, configs)

    def numvfs(self, pf_address: PciAddress) -> int:
        return self.inner.numvfs(pf_address)

    def set_numvfs(self, pf_address: PciAddress, count: int) -> None:
        self.inner.set_numvfs(pf_address, count)


class Host:
    def __init__(self, tmp_path: Path) -> None:
        LabSysfs(tmp_path / "root").add_card(PROFILES["x710"], pfs=2, vfs=4)
        self.devices = list(SysfsReader(tmp_path / "root").scan().devices)
        self.sim = SimulatedNic(tmp_path / "root")
        self.events: list[str] = []
        self.nic = RecordingNic(self.sim, self.events)
        self.store = RecordingStore(tmp_path / "state", self.events)
        self.reconciler = Reconciler(self.nic, self.store)

    def run(self, ports: list[dict[str, Any]]) -> Any:
        self.events.clear()
        return self.reconciler.run(ports, self.devices)

    def vf(self, slot: str) -> VfConfig:
        pf, index = ("ens1f0", int(slot[-1])) if ":02." in slot else ("ens1f1", int(slot[-1]))
        return self.sim.read_vfs(pf)[index]

    def saved(self) -> set[str]:
        return {str(address) for address in VfStateStore(self.store.state_dir).load_all()}

    def writes(self) -> list[str]:
        return [e for e in self.events if e.startswith("write")]


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


def _port(port_id: str, slot: str, **changes: Any) -> dict[str, Any]:
    port = {"port_id": port_id, "pci_slot": slot, "mac_address": f"fa:16:3e:00:00:{port_id[-1]}0",
            "vlan": 100 + int(port_id[-1]), "admin_state_up": True,
            "port_security_enabled": True, "trusted": None, "propagate_uplink_status": False,
            "max_kbps": None, "min_kbps": None}  # fmt: skip
    return {**port, **changes}


THREE = [_port("p1", P1_SLOT), _port("p2", P2_SLOT), _port("p3", P3_SLOT)]


def _configured(host: Host, slot: str, port: dict[str, Any]) -> bool:
    vf = host.vf(slot)
    return (vf.mac, vf.vlan) == (port["mac_address"], port["vlan"])


# --- the batches ---


def test_originals_are_durable_before_the_first_write_and_each_pf_is_one_batch(
    host: Host,
) -> None:
    seen_by_a_fresh_store: list[set[str]] = []
    host.nic.before_write = lambda pf, configs: seen_by_a_fresh_store.append(host.saved())
    outcome = host.run(THREE)
    assert (outcome.up, outcome.errors, outcome.applied) == (["p1", "p2", "p3"], {}, 3)
    assert host.events == [
        "read ens1f0", "read ens1f1",  # observe
        f"save {P1_SLOT}", f"save {P2_SLOT}", f"save {P3_SLOT}", "sync",  # originals, one sync
        "write ens1f0 [1, 2]", "write ens1f1 [1]",  # one batch per PF
        "read ens1f0", "read ens1f1",  # one read-back per PF
    ]  # fmt: skip
    assert seen_by_a_fresh_store == [{P1_SLOT, P2_SLOT, P3_SLOT}] * 2  # saved before any write
    assert all(_configured(host, port["pci_slot"], port) for port in THREE)


def test_restored_originals_are_forgotten_after_the_read_back_with_one_sync(host: Host) -> None:
    host.run(THREE)
    outcome = host.run([THREE[1]])
    assert (sorted(outcome.down), outcome.up, outcome.errors) == (["p1", "p3"], ["p2"], {})
    assert host.events == [
        "read ens1f0", "read ens1f1",
        "write ens1f0 [1]", "write ens1f1 [1]",
        "read ens1f0", "read ens1f1",
        f"forget {P1_SLOT}", f"forget {P3_SLOT}", "sync",
    ]  # fmt: skip
    assert (host.vf(P1_SLOT), host.vf(P3_SLOT)) == (FRESH, FRESH)
    assert host.saved() == {P2_SLOT}


# --- failures stay with their port ---


def test_a_port_whose_original_cannot_be_saved_is_not_written_and_the_others_are(
    host: Host,
) -> None:
    blocker = host.store.state_dir / ".ens1f0_vf2.json.tmp"  # save's temporary file for p2
    blocker.mkdir(parents=True)
    outcome = host.run(THREE)
    assert outcome.up == ["p1", "p3"]
    assert list(outcome.errors) == ["p2"]
    assert outcome.errors["p2"].startswith(f"VF {P2_SLOT}: cannot save the original state")
    assert outcome.applied == 2
    assert host.writes() == ["write ens1f0 [1]", "write ens1f1 [1]"]  # p2's VF not in a batch
    assert host.vf(P2_SLOT) == FRESH
    assert _configured(host, P1_SLOT, THREE[0])
    assert _configured(host, P3_SLOT, THREE[2])
    assert host.saved() == {P1_SLOT, P3_SLOT}

    shutil.rmtree(blocker)
    retry = host.run(THREE)  # the next pass (a full resync) finishes the job
    assert (retry.up, retry.errors) == (["p1", "p2", "p3"], {})
    assert host.writes() == ["write ens1f0 [2]"]
    assert _configured(host, P2_SLOT, THREE[1])
    assert host.saved() == {P1_SLOT, P2_SLOT, P3_SLOT}


def test_a_failed_directory_sync_writes_none_of_the_vfs_it_covered(host: Host) -> None:
    p0 = _port("p0", "0000:3b:02.0")
    assert host.run([p0]).up == ["p0"]
    host.store.failing_syncs = 1
    drifted = {**p0, "vlan": 777}  # p0's original is saved already: nothing to sync for it
    outcome = host.run([drifted, THREE[0], THREE[2]])
    assert outcome.up == ["p0"]
    assert sorted(outcome.errors) == ["p1", "p3"]
    assert all("Input/output error" in message for message in outcome.errors.values())
    assert host.writes() == ["write ens1f0 [0]"]  # p0's change only; none on ens1f1
    assert (host.vf(P1_SLOT), host.vf(P3_SLOT)) == (FRESH, FRESH)
    assert host.vf("0000:3b:02.0").vlan == 777


def test_a_vf_write_failing_in_a_batch_fails_only_its_port(host: Host) -> None:
    def busy_once(pf: str, configs: Mapping[int, VfConfig]) -> None:
        if pf == "ens1f0" and 1 in configs:
            host.sim.fail_next("ens1f0", errno.EBUSY)  # hits the batch's first VF: p1's

    host.nic.before_write = busy_once
    outcome = host.run(THREE)
    assert outcome.up == ["p2", "p3"]
    assert list(outcome.errors) == ["p1"]
    assert outcome.errors["p1"].startswith(f"VF {P1_SLOT}: cannot set VF 1 of ens1f0")
    assert host.vf(P1_SLOT) == FRESH
    assert _configured(host, P2_SLOT, THREE[1])
    assert host.saved() == {P1_SLOT, P2_SLOT, P3_SLOT}  # p1's original kept for the retry
    host.nic.before_write = lambda pf, configs: None
    assert (host.run(THREE).up, host.writes()) == (["p1", "p2", "p3"], ["write ens1f0 [1]"])


def test_a_pf_that_cannot_be_written_fails_its_ports_only(host: Host) -> None:
    def gone(pf: str, configs: Mapping[int, VfConfig]) -> None:
        if pf == "ens1f1":
            raise DeviceNotFound("cannot set the VFs of ens1f1: No such device [ENODEV]")

    host.nic.before_write = gone
    outcome = host.run(THREE)
    assert outcome.up == ["p1", "p2"]
    assert list(outcome.errors) == ["p3"]
    assert "No such device" in outcome.errors["p3"]
    assert host.vf(P3_SLOT) == FRESH
    assert host.events.count("read ens1f1") == 1  # nothing written there: no read-back


def test_a_restore_that_does_not_read_back_keeps_the_original(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.run(THREE[:1])
    monkeypatch.setattr(host.sim, "write_vfs", lambda pf_ifname, configs: {})  # "written"
    outcome = host.run([])
    assert outcome.down == ["p1"]
    assert "read back" in outcome.errors["p1"]
    assert not any(e.startswith("forget") for e in host.events)
    assert host.saved() == {P1_SLOT}  # still there for the next pass's restore
    monkeypatch.undo()
    again = host.run([])
    assert again.errors == {}
    assert host.vf(P1_SLOT) == FRESH
    assert host.saved() == set()


def test_after_a_failed_sync_the_next_pass_syncs_before_writing_those_vfs(host: Host) -> None:
    host.store.failing_syncs = 1
    assert sorted(host.run(THREE).errors) == ["p1", "p2", "p3"]
    retry = host.run(THREE)
    assert retry.up == ["p1", "p2", "p3"]
    first_write = next(i for i, e in enumerate(host.events) if e.startswith("write"))
    assert "sync" in host.events[:first_write]


def test_while_the_sync_keeps_failing_those_vfs_are_not_written(host: Host) -> None:
    host.store.failing_syncs = 2
    host.run(THREE)
    retry = host.run(THREE)
    assert retry.up == []
    assert sorted(retry.errors) == ["p1", "p2", "p3"]
    for port in THREE:
        message = retry.errors[port["port_id"]]
        assert message.startswith(f"VF {port['pci_slot']}: not written: its saved original")
        assert "Input/output error" in message
    assert host.events.count("sync") == 1
    assert host.writes() == []
    assert all(host.vf(slot) == FRESH for slot in (P1_SLOT, P2_SLOT, P3_SLOT))


def test_a_restarted_agent_syncs_the_records_it_found_once_before_writing(host: Host) -> None:
    host.run(THREE)
    host.sim.write_vfs("ens1f0", {1: FRESH})  # p1's VF drifted while the agent was down
    host.reconciler = Reconciler(host.nic, RecordingStore(host.store.state_dir, host.events))
    outcome = host.run(THREE)
    assert (outcome.up, outcome.errors) == (["p1", "p2", "p3"], {})
    assert host.events == [
        "read ens1f0", "read ens1f1", "sync", "write ens1f0 [1]", "read ens1f0",
    ]  # fmt: skip
    again = host.run([THREE[0], THREE[1], _port("p3", P3_SLOT, vlan=300)])
    assert (again.up, again.errors) == (["p1", "p2", "p3"], {})
    assert host.events[:3] == ["read ens1f0", "read ens1f1", "write ens1f1 [1]"]  # no sync
