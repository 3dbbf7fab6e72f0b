"""``vfplane lab make-sysfs`` writes trees the reader and the inventory understand."""

from __future__ import annotations

from pathlib import Path

from tests.functional.conftest import Invoke
from vfplane.host.sysfs import SysfsReader


def test_make_sysfs_writes_the_asked_host(vfplane: Invoke, tmp_path: Path) -> None:
    result = vfplane(
        "lab", "make-sysfs", "--profile", "x710", "--pfs", "2", "--vfs", "8", tmp_path / "h"
    )
    assert result.exit_code == 0, result.output
    assert "2 PFs, 16 VFs" in result.stdout
    assert len(SysfsReader(tmp_path / "h").scan().devices) == 18


def test_make_sysfs_append_and_refuse_overwrite(vfplane: Invoke, tmp_path: Path) -> None:
    assert vfplane("lab", "make-sysfs", "--profile", "e810", tmp_path).exit_code == 0
    again = vfplane("lab", "make-sysfs", "--profile", "cx5", tmp_path)
    assert again.exit_code == 1
    assert "--append" in again.stderr
    appended = vfplane(
        "lab", "make-sysfs", "--profile", "cx5", "--numa", "1", "--append", "--vfs", "2", tmp_path
    )
    assert appended.exit_code == 0, appended.output
    devices = SysfsReader(tmp_path).scan().devices
    assert len(devices) == (2 + 16) + (2 + 4)
    assert {d.numa_node for d in devices if d.vendor_id == "15b3"} == {1}


def test_make_sysfs_rejects_bad_options(vfplane: Invoke, tmp_path: Path) -> None:
    unknown = vfplane("lab", "make-sysfs", "--profile", "x999", tmp_path)
    assert unknown.exit_code == 2
    assert "unknown profile 'x999'" in unknown.stderr
    too_many = vfplane("lab", "make-sysfs", "--profile", "82599", "--vfs", "64", tmp_path)
    assert too_many.exit_code == 1
    assert "supports 0 to 63 VFs" in too_many.stderr
    bad_numa = vfplane("lab", "make-sysfs", "--profile", "x710", "--numa", "a,b", tmp_path)
    assert bad_numa.exit_code == 2
    assert not (tmp_path / "sys").exists()


def test_make_sysfs_with_vfio_and_32_bit_domain(vfplane: Invoke, tmp_path: Path) -> None:
    result = vfplane(
        "lab",
        "make-sysfs",
        "--profile",
        "cx6dx",
        "--pfs",
        "1",
        "--vfs",
        "2",
        "--vfio-vfs",
        "2",
        "--domain",
        "10000",
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    devices = SysfsReader(tmp_path).scan().devices
    assert {str(d.address).split(":")[0] for d in devices} == {"10000"}
    assert [d.driver for d in devices if d.parent_addr] == ["vfio-pci", "vfio-pci"]


def test_version(vfplane: Invoke) -> None:
    result = vfplane("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("vfplane ")
