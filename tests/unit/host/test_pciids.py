"""Names come from a pci.ids database file, never from a table in the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfplane.host.pciids import DEFAULT_LOCATIONS, PciIds

SAMPLE = """\
# comment
8086  Intel Corporation
\t1572  Ethernet Controller X710 for 10GbE SFP+
\t\t8086 0007  Ethernet Converged Network Adapter X710-2
15b3  Mellanox Technologies
\t101e  ConnectX Family mlx5Gen Virtual Function

C 02  Network controller
\t00  Ethernet controller
"""


def test_parse_vendors_and_devices(tmp_path: Path) -> None:
    path = tmp_path / "pci.ids"
    path.write_text(SAMPLE)
    names = PciIds.load([tmp_path / "absent", path])
    assert names.source == path
    assert names.vendor_name("8086") == "Intel Corporation"
    assert names.device_name("8086", "1572") == "Ethernet Controller X710 for 10GbE SFP+"
    assert names.device_name("15B3", "101E") == "ConnectX Family mlx5Gen Virtual Function"
    assert names.vendor_name("02") is None  # the class section is not a vendor
    assert names.device_name("8086", "ffff") is None


def test_no_database_gives_no_names(tmp_path: Path) -> None:
    names = PciIds.load([tmp_path / "absent"])
    assert names.source is None
    assert names.vendor_name("8086") is None


@pytest.mark.skipif(
    not any(p.is_file() for p in DEFAULT_LOCATIONS), reason="pci.ids is not installed"
)
def test_system_database_knows_every_lab_nic() -> None:
    from vfplane.lab.profiles import PROFILES

    names = PciIds.load()
    for profile in PROFILES.values():
        assert names.device_name(profile.vendor_id, profile.pf_product_id), profile.name
        assert names.device_name(profile.vendor_id, profile.vf_product_id), profile.name
