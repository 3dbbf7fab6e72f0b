"""The store's index of record files: save, forget and load_all keep it true to the
directory, renamed PFs leave no orphan, and batches sync the directory once."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import LinkState, SavedVf, VfConfig, VfRef
from vfplane.errors import NicError
from vfplane.host.vf_state_store import VfStateStore

VF = VfRef(PciAddress.parse("0000:3b:02.3"), "ens1f0", 3)
OTHER = VfRef(PciAddress.parse("0000:3b:02.4"), "ens1f0", 4)
ORIGINAL = VfConfig("02:00:00:00:00:09", 7, 1, True, False, LinkState.ENABLE, 0, 10)
SAVED = SavedVf("port-1", ORIGINAL)
SAVED_2 = SavedVf("port-2", VfConfig("00:00:00:00:00:00"))


@pytest.fixture
def store(tmp_path: Path) -> VfStateStore:
    return VfStateStore(tmp_path / "vf-state")


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every file or directory fsynced from now on, in order."""
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return synced


def _names(store: VfStateStore) -> list[str]:
    return sorted(p.name for p in store.state_dir.iterdir())


def _fresh(store: VfStateStore) -> dict[PciAddress, SavedVf]:
    """What another process (a restarted agent) loads from the directory."""
    return VfStateStore(store.state_dir).load_all()


# --- durability ---


def test_a_saved_original_is_durable_and_readable_by_a_fresh_store_when_save_returns(
    store: VfStateStore, fsyncs: list[str]
) -> None:
    store.save(VF, SAVED)
    assert fsyncs == [str(store.state_dir / ".ens1f0_vf3.json.tmp"), str(store.state_dir)]
    assert _fresh(store) == {VF.address: SAVED}


def test_a_batch_of_saves_syncs_the_directory_once(store: VfStateStore, fsyncs: list[str]) -> None:
    store.save(VF, SAVED, sync=False)
    store.save(OTHER, SAVED_2, sync=False)
    assert str(store.state_dir) not in fsyncs  # each record's data, not yet its name
    assert len(fsyncs) == 2
    store.sync()
    assert fsyncs[2:] == [str(store.state_dir)]
    assert _fresh(store) == {VF.address: SAVED, OTHER.address: SAVED_2}


def test_a_batch_of_forgets_syncs_the_directory_once(
    store: VfStateStore, fsyncs: list[str]
) -> None:
    store.save(VF, SAVED)
    store.save(OTHER, SAVED_2)
    fsyncs.clear()
    store.forget(VF.address, sync=False)
    store.forget(OTHER.address, sync=False)
    store.forget(PciAddress.parse("0000:3b:02.5"), sync=False)  # nothing saved: fine
    assert fsyncs == []
    store.sync()
    assert fsyncs == [str(store.state_dir)]
    assert _fresh(store) == {}
    assert _names(store) == []


def test_sync_without_a_directory_does_nothing(store: VfStateStore, fsyncs: list[str]) -> None:
    store.sync()
    assert fsyncs == []
    assert not store.state_dir.exists()


# --- the index follows save, forget and load_all ---


@pytest.mark.parametrize("loaded", [True, False], ids=["after-load_all", "before-load_all"])
def test_forget_finds_a_record_saved_by_an_earlier_run(store: VfStateStore, loaded: bool) -> None:
    VfStateStore(store.state_dir).save(VF, SAVED)  # the agent before a restart
    if loaded:
        assert store.load_all() == {VF.address: SAVED}
    store.forget(VF.address)
    assert _names(store) == []
    assert _fresh(store) == {}


def test_save_forget_load_all_round_trip_in_one_store(store: VfStateStore) -> None:
    assert store.load_all() == {}
    store.save(VF, SAVED, sync=False)
    store.save(OTHER, SAVED_2, sync=False)
    store.forget(VF.address, sync=False)
    store.save(VF, SAVED_2, sync=False)  # saved again after being forgotten
    store.forget(OTHER.address, sync=False)
    store.sync()
    assert _names(store) == ["ens1f0_vf3.json"]
    assert store.load_all() == _fresh(store) == {VF.address: SAVED_2}
    store.forget(VF.address)
    assert store.load_all() == _fresh(store) == {}


def test_load_all_refreshes_the_index(store: VfStateStore) -> None:
    assert store.load_all() == {}
    VfStateStore(store.state_dir).save(VF, SAVED)  # written behind this store's back
    assert store.load_all() == {VF.address: SAVED}
    store.forget(VF.address)
    assert _names(store) == []


def test_a_second_record_is_indexed_and_forgotten_with_the_first(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    (store.state_dir / "old_vf3.json").write_text((store.state_dir / "ens1f0_vf3.json").read_text())
    assert store.load_all() == {VF.address: SAVED}
    assert len(store.problems) == 1
    store.forget(VF.address)
    assert _names(store) == []


def test_saving_again_drops_a_second_record(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    (store.state_dir / "old_vf3.json").write_text((store.state_dir / "ens1f0_vf3.json").read_text())
    store.load_all()
    store.save(VF, SAVED_2)
    assert _names(store) == ["ens1f0_vf3.json"]
    assert store.load_all() == {VF.address: SAVED_2}
    assert store.problems == []


def test_a_record_file_removed_behind_the_stores_back_is_fine(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    store.load_all()
    (store.state_dir / "ens1f0_vf3.json").unlink()
    store.forget(VF.address)  # indexed, already gone: nothing to do
    store.save(VF, SAVED_2)
    assert _fresh(store) == {VF.address: SAVED_2}


# --- renamed PFs ---

RENAMED = VfRef(VF.address, "ens1f0np0", 3)
"""VF after an OS upgrade renamed its PF: same PCI address, new netdev name."""


@pytest.mark.parametrize(
    "prepare",
    [lambda s: None, lambda s: s.load_all()],
    ids=["before-load_all", "after-load_all"],
)
def test_saving_after_a_pf_rename_replaces_the_record_under_the_old_name(
    store: VfStateStore, prepare: Callable[[VfStateStore], object]
) -> None:
    VfStateStore(store.state_dir).save(VF, SAVED)  # the run before the upgrade
    prepare(store)
    store.save(RENAMED, SAVED_2)
    assert _names(store) == ["ens1f0np0_vf3.json"]
    assert _fresh(store) == {VF.address: SAVED_2}


@pytest.mark.parametrize("loaded", [True, False], ids=["after-load_all", "before-load_all"])
def test_forgetting_after_a_pf_rename_removes_the_record_under_the_old_name(
    store: VfStateStore, loaded: bool
) -> None:
    VfStateStore(store.state_dir).save(VF, SAVED)  # the run before the upgrade
    if loaded:
        assert store.load_all() == {RENAMED.address: SAVED}  # found by address, not by name
    store.forget(RENAMED.address)
    assert _names(store) == []


def test_a_pf_name_taken_over_by_another_pf_does_not_lose_the_first_pfs_original(
    store: VfStateStore,
) -> None:
    first = VfRef(PciAddress.parse("0000:3b:02.3"), "eth0", 3)
    VfStateStore(store.state_dir).save(first, SAVED)  # before a reboot: eth0 is 3b:00.0
    second = VfRef(PciAddress.parse("0000:5e:02.3"), "eth0", 3)  # after it: eth0 is 5e:00.0
    assert store.load_all() == {first.address: SAVED}
    store.save(second, SAVED_2)
    assert _fresh(store) == {first.address: SAVED, second.address: SAVED_2}


def test_pf_names_swapped_between_pfs_keep_both_originals(store: VfStateStore) -> None:
    a0, b0 = PciAddress.parse("0000:3b:02.3"), PciAddress.parse("0000:5e:02.3")
    before = VfStateStore(store.state_dir)  # eth0 is 3b:00.0, eth1 5e:00.0
    before.save(VfRef(a0, "eth0", 3), SAVED)
    before.save(VfRef(b0, "eth1", 3), SAVED_2)
    assert store.load_all() == {a0: SAVED, b0: SAVED_2}
    store.save(VfRef(b0, "eth0", 3), SAVED_2)  # after a reboot the names are swapped
    store.save(VfRef(a0, "eth1", 3), SAVED)
    assert _fresh(store) == {a0: SAVED, b0: SAVED_2}
    assert len(_names(store)) == 2  # no record left behind under an old name
    store.forget(a0)
    store.forget(b0)
    assert _names(store) == []


def test_save_does_not_replace_a_file_it_cannot_read(store: VfStateStore) -> None:
    store.state_dir.mkdir()
    (store.state_dir / "ens1f0_vf3.json").write_text("{not json")
    store.save(VF, SAVED)  # before load_all: the unreadable file is not indexed
    assert (store.state_dir / "ens1f0_vf3.json").read_text() == "{not json"
    assert store.load_all() == {VF.address: SAVED}
    assert len(store.problems) == 1  # moved aside by load_all, not overwritten by save
    store.save(VF, SAVED_2)  # the name is free again: the record moves back to it
    assert _names(store) == ["ens1f0_vf3.json", "ens1f0_vf3.json.corrupt"]
    assert _fresh(store) == {VF.address: SAVED_2}


def test_durable_is_true_only_once_a_sync_has_confirmed_the_record(
    store: VfStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(VF, SAVED, sync=False)
    assert not store.durable(VF.address)
    store.sync()
    assert store.durable(VF.address)
    assert store.load_all() == {VF.address: SAVED}
    assert store.durable(VF.address)  # still the record this store synced
    store.save(VF, SAVED_2, sync=False)
    assert not store.durable(VF.address)
    real = os.fsync

    def failing(fd: int) -> None:
        if Path(f"/proc/self/fd/{fd}").readlink() == store.state_dir:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(NicError):
        store.sync()
    assert not store.durable(VF.address)
    monkeypatch.undo()
    restarted = VfStateStore(store.state_dir)
    assert restarted.load_all() == {VF.address: SAVED_2}
    assert not restarted.durable(VF.address)  # not known to a store that never synced
    restarted.sync()
    assert restarted.durable(VF.address)
    assert not restarted.durable(OTHER.address)  # nothing saved
