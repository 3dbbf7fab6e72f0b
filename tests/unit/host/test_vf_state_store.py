"""Saved VF originals survive restarts, PF renames and corrupt files."""

from __future__ import annotations

import json
import logging
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


@pytest.fixture
def store(tmp_path: Path) -> VfStateStore:
    return VfStateStore(tmp_path / "vf-state")


def test_saved_vf_loads_back_in_a_new_store(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    store.save(OTHER, SavedVf("port-2", VfConfig("00:00:00:00:00:00")))
    loaded = VfStateStore(store.state_dir).load_all()
    assert loaded == {
        VF.address: SAVED,
        OTHER.address: SavedVf("port-2", VfConfig("00:00:00:00:00:00")),
    }


def test_file_is_named_like_libvirts_and_names_the_vf(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    assert [p.name for p in store.state_dir.iterdir()] == ["ens1f0_vf3.json"]
    record = json.loads((store.state_dir / "ens1f0_vf3.json").read_text())
    assert record["address"] == "0000:3b:02.3"
    assert record["port_id"] == "port-1"
    assert record["original"] == ORIGINAL.as_dict()


def test_saving_again_replaces_the_record(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    store.save(VF, SavedVf("port-2", ORIGINAL))
    assert store.load_all() == {VF.address: SavedVf("port-2", ORIGINAL)}


def test_renamed_pf_leaves_one_record(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    renamed = VfRef(VF.address, "ens1f0np0", 3)
    store.save(renamed, SAVED)
    assert [p.name for p in store.state_dir.iterdir()] == ["ens1f0np0_vf3.json"]
    assert store.load_all() == {VF.address: SAVED}


def test_empty_or_missing_directory_loads_nothing(store: VfStateStore) -> None:
    assert store.load_all() == {}
    store.state_dir.mkdir()
    assert store.load_all() == {}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"address": "0000:3b:02.5"}',
        '{"address": "nowhere", "port_id": "p", "original": {}}',
        json.dumps(
            {"address": "0000:3b:02.5", "port_id": "p", "original": {"mac": "02:00:00:00:00:01"}}
        ),
        json.dumps({"address": 5, "port_id": "p", "original": ORIGINAL.as_dict()}),
        json.dumps({"address": "0000:3b:02.5", "port_id": "", "original": ORIGINAL.as_dict()}),
    ],
)
def test_corrupt_record_is_reported_and_moved_aside(
    store: VfStateStore, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(VF, SAVED)
    (store.state_dir / "ens1f0_vf5.json").write_text(content)
    with caplog.at_level(logging.WARNING):
        assert store.load_all() == {VF.address: SAVED}
    assert (store.state_dir / "ens1f0_vf5.json.corrupt").read_text() == content
    assert not (store.state_dir / "ens1f0_vf5.json").exists()
    assert len(store.problems) == 1
    assert "ens1f0_vf5.json" in store.problems[0]
    assert "ens1f0_vf5.json" in caplog.text
    assert store.load_all() == {VF.address: SAVED}
    assert store.problems == []


def test_second_record_for_one_vf_is_reported(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    copy = (store.state_dir / "ens1f0_vf3.json").read_text()
    (store.state_dir / "old_vf3.json").write_text(copy)
    assert store.load_all() == {VF.address: SAVED}
    assert len(store.problems) == 1
    assert "second record" in store.problems[0]


def test_forget_removes_the_record_and_is_idempotent(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    store.save(OTHER, SAVED)
    store.forget(VF.address)
    store.forget(VF.address)
    assert store.load_all() == {OTHER.address: SAVED}
    VfStateStore(store.state_dir / "never-created").forget(VF.address)


def test_forget_leaves_corrupt_files_alone(store: VfStateStore) -> None:
    store.save(VF, SAVED)
    (store.state_dir / "ens1f0_vf5.json").write_text("{not json")
    store.forget(VF.address)
    assert sorted(p.name for p in store.state_dir.iterdir()) == ["ens1f0_vf5.json"]


def test_unwritable_directory_is_a_nic_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NicError, match="save the original state"):
        VfStateStore(blocker / "vf-state").save(VF, SAVED)
