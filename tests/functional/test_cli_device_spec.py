"""``vfplane device-spec match``: exit 0 on match, 1 on no match, 2 on an invalid spec."""

from __future__ import annotations

import json
from pathlib import Path

from tests.functional.conftest import Invoke
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs

VF = {
    "address": "0000:3b:02.1",
    "vendor_id": "8086",
    "product_id": "154c",
    "parent_addr": "0000:3b:00.0",
}


def test_match_prints_the_tags(vfplane: Invoke) -> None:
    spec = {"vendor_id": "8086", "physical_network": "physnet1", "trusted": "yes"}
    result = vfplane("device-spec", "match", "--spec", json.dumps(spec), "--device", json.dumps(VF))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "match (entry 0)"
    assert json.loads(lines[1].removeprefix("tags: ")) == {
        "physical_network": "physnet1",
        "trusted": "true",
    }


def test_no_match_says_why_per_entry(vfplane: Invoke) -> None:
    result = vfplane(
        "device-spec",
        "match",
        "--spec",
        '{"vendor_id": "15b3"}',
        "--spec",
        '[{"address": "0000:3c:*.*"}]',
        "--device",
        json.dumps(VF),
    )
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "no match"
    assert "entry 0" in result.stdout
    assert "vendor_id 8086 is not 15b3" in result.stdout
    assert "address 0000:3b:02.1 does not match 0000:3c:*.*" in result.stdout


def test_invalid_spec_exits_2_with_one_line(vfplane: Invoke) -> None:
    result = vfplane(
        "device-spec", "match", "--spec", '{"address": "0000:3b:02.12"}', "--device", json.dumps(VF)
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: device_spec entry 0")
    assert "property func" in line or "function" in line


def test_not_json_spec_exits_2(vfplane: Invoke) -> None:
    result = vfplane("device-spec", "match", "--spec", "{vendor_id: 8086", "--device", "{}")
    assert result.exit_code == 2
    assert "Invalid entry" in result.stderr


def test_invalid_device_exits_2(vfplane: Invoke) -> None:
    result = vfplane(
        "device-spec", "match", "--spec", "{}", "--device", '{"address": "nope", "vendor_id": "1"}'
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --device")


def test_unknown_key_is_a_warning_not_an_error(vfplane: Invoke) -> None:
    spec = '{"physical_netwrok": "physnet1"}'
    result = vfplane("device-spec", "match", "--spec", spec, "--device", json.dumps(VF))
    assert result.exit_code == 0
    assert "did you mean 'physical_network'" in result.stderr


def test_pf_address_matches_its_vfs_with_sysfs_root(vfplane: Invoke, tmp_path: Path) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["x710"], pfs=1, vfs=2)
    spec = '{"address": "0000:3b:00.0", "physical_network": "physnet1"}'
    with_root = vfplane(
        "device-spec", "match", "--spec", spec, "--device", json.dumps(VF), "--sysfs-root", tmp_path
    )
    assert with_root.exit_code == 0, with_root.output
    without_pf = vfplane(
        "device-spec",
        "match",
        "--spec",
        spec,
        "--device",
        json.dumps(VF),
        "--sysfs-root",
        tmp_path / "elsewhere",
    )
    assert without_pf.exit_code == 1


def test_devname_resolves_under_sysfs_root(vfplane: Invoke, tmp_path: Path) -> None:
    LabSysfs(tmp_path).add_card(PROFILES["x710"], pfs=1, vfs=2)
    spec = '{"devname": "ens1f0", "physical_network": "physnet1"}'
    result = vfplane(
        "device-spec", "match", "--spec", spec, "--device", json.dumps(VF), "--sysfs-root", tmp_path
    )
    assert result.exit_code == 0, result.output
    missing = vfplane(
        "device-spec",
        "match",
        "--spec",
        '{"devname": "ens9f9"}',
        "--device",
        json.dumps(VF),
        "--sysfs-root",
        tmp_path,
    )
    assert missing.exit_code == 1
    assert "devname ens9f9 resolves to no PCI device" in missing.stderr
    assert "devname ens9f9 resolves to no PCI device" in missing.stdout


def test_profiles_are_all_known_to_the_lab_cli(vfplane: Invoke) -> None:
    result = vfplane("lab", "make-sysfs", "--help")
    assert result.exit_code == 0
    for name in PROFILES:
        assert name in result.stdout
