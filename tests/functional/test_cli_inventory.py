"""``vfplane inventory`` shows every profile's tree, with device_spec tags and exclusions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.functional.conftest import Invoke
from vfplane.domain.pci import PciAddress
from vfplane.host.pciids import PciIds
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

HAS_PCI_IDS = PciIds.load().source is not None


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vfplane.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_json_tree_for_every_profile(vfplane: Invoke, tmp_path: Path, name: str) -> None:
    profile = PROFILES[name]
    LabSysfs(tmp_path).add_card(profile, pfs=2, vfs=3, numa_nodes=[0, 1], vfio_vfs=1)
    config = _config(
        tmp_path,
        f'[pci]\ndevice_spec = [{{ vendor_id = "{profile.vendor_id}", '
        f'product_id = "{profile.vf_product_id}", physical_network = "physnet1" }}]\n',
    )
    result = vfplane("inventory", "--sysfs-root", tmp_path, "--config", config, "--json")
    assert result.exit_code == 0, result.output
    tree = json.loads(result.stdout)
    assert [pf["numa_node"] for pf in tree["pfs"]] == [0, 1]
    for pf in tree["pfs"]:
        assert pf["product_id"] == profile.pf_product_id
        assert pf["driver"] == profile.pf_driver
        assert pf["selected"] is False
        assert [vf["vf_index"] for vf in pf["vfs"]] == [0, 1, 2]
        assert {vf["parent_addr"] for vf in pf["vfs"]} == {pf["address"]}
        assert [vf["ifname"] is None for vf in pf["vfs"]] == [True, False, False]
        assert all(vf["physical_network"] == "physnet1" for vf in pf["vfs"])
        assert all(vf["pf_ifname"] == pf["ifname"] for vf in pf["vfs"])
        if HAS_PCI_IDS:
            assert pf["vendor_name"] != f"vendor {profile.vendor_id}"
    assert tree["others"] == []


@pytest.mark.skipif(not HAS_PCI_IDS, reason="the pci.ids package is not installed")
def test_text_tree_names_devices_from_pci_ids(vfplane: Invoke, tmp_path: Path) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["x710"], pfs=1, vfs=2)
    config = _config(
        tmp_path,
        '[pci]\ndevice_spec = [\'{"address": "0000:3b:00.0", "physical_network": "physnet1"}\']\n',
    )
    result = vfplane("inventory", "--sysfs-root", tmp_path, "--config", config)
    assert result.exit_code == 0, result.output
    assert "Ethernet Controller X710 for 10GbE SFP+" in result.stdout
    assert "Ethernet Virtual Function 700 Series" in result.stdout
    assert "physnet physnet1" in result.stdout
    assert "3 devices selected by device_spec, 0 not selected" in result.stdout


def test_unselected_and_excluded_devices_are_shown(vfplane: Invoke, tmp_path: Path) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["x710"], pfs=2, vfs=2)
    config = _config(
        tmp_path,
        """
[pci]
device_spec = [{ address = "0000:3b:00.0", physical_network = "physnet1" }]
[agent]
physical_device_mappings = "physnet1:ens1f0,physnet2:ens1f1"
exclude_devices = "ens1f0:0000:3b:02.1"
""",
    )
    result = vfplane("inventory", "--sysfs-root", tmp_path, "--config", config, "--json")
    assert result.exit_code == 0, result.output
    pf0, pf1 = json.loads(result.stdout)["pfs"]
    assert [vf["selected"] for vf in pf0["vfs"]] == [True, False]
    assert pf0["vfs"][1]["excluded"] is True
    assert pf1["selected"] is False
    assert not any(vf["selected"] for vf in pf1["vfs"])
    text = vfplane("inventory", "--sysfs-root", tmp_path, "--config", config)
    assert "not selected: 0000:3b:02.1, 0000:3b:00.1" in text.stdout


def test_physnet_disagreement_is_noted(vfplane: Invoke, tmp_path: Path) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["cx5"], pfs=1, vfs=1)
    config = _config(
        tmp_path,
        """
[pci]
device_spec = [{ devname = "ens1f0np0", physical_network = "physnet1" }]
[agent]
physical_device_mappings = ["physnet2:ens1f0np0"]
""",
    )
    result = vfplane("inventory", "--sysfs-root", tmp_path, "--config", config, "--json")
    notes = json.loads(result.stdout)["pfs"][0]["vfs"][0]["notes"]
    assert notes == [
        "device_spec says physical_network physnet1, physical_device_mappings maps "
        "ens1f0np0 to physnet2"
    ]


def test_no_device_spec_means_nothing_is_assignable(vfplane: Invoke, tmp_path: Path) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["vic"], pfs=1, vfs=1)
    result = vfplane("inventory", "--sysfs-root", tmp_path)
    assert result.exit_code == 0, result.output
    assert "No [pci] device_spec is configured" in result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pci]\ndevice_spec = ['{\"address\": 5}']\n", "device_spec entry 0"),
        ("[pci]\ndevice_specs = []\n", "[pci] unknown key 'device_specs'"),
        ("[agent]\nexclude_devices = 'ens1f0:0000:07:00.2'\n", "missing from physical_device"),
        ("[agent]\nphysical_device_mappings = 'physnet1'\n", "invalid mapping 'physnet1'"),
        ("not toml = = =", "is not valid TOML"),
    ],
)
def test_bad_config_exits_2_naming_the_problem(
    vfplane: Invoke, tmp_path: Path, text: str, message: str
) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["x710"], pfs=1, vfs=0)
    result = vfplane("inventory", "--sysfs-root", tmp_path, "--config", _config(tmp_path, text))
    assert result.exit_code == 2
    assert message in result.stderr


def test_missing_sysfs_exits_1_with_advice(vfplane: Invoke, tmp_path: Path) -> None:
    result = vfplane("inventory", "--sysfs-root", tmp_path / "nothing")
    assert result.exit_code == 1
    assert "--sysfs-root" in result.stderr


def test_sysfs_problems_go_to_stderr(vfplane: Invoke, tmp_path: Path) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["x710"], pfs=1, vfs=2)
    lab = LabSysfs(tmp_path)
    lab.set_numvfs(PciAddress.parse("0000:3b:00.0"), 1)
    (tmp_path / "sys/bus/pci/devices/0000:3b:00.0/sriov_numvfs").write_text("2\n")
    result = vfplane("inventory", "--sysfs-root", tmp_path, "--json")
    assert result.exit_code == 0
    assert "VFs still appearing" in result.stderr
    json.loads(result.stdout)


def test_environment_overrides_the_config(
    vfplane: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["x710"], pfs=1, vfs=1)
    monkeypatch.setenv("VFPLANE_AGENT__SYSFS_ROOT", str(tmp_path))
    monkeypatch.setenv("VFPLANE_PCI__DEVICE_SPEC", '[{physical_network = "physnet7"}]')
    result = vfplane("inventory", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pfs"][0]["physical_network"] == "physnet7"
