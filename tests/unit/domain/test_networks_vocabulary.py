"""network_vlan_ranges and MAC generation."""

from __future__ import annotations

import random

import pytest

from vfplane.domain.networks import VlanRange, parse_vlan_ranges, random_mac
from vfplane.errors import ConfigError


def test_vlan_ranges_and_provider_only_physnets() -> None:
    physnets, ranges = parse_vlan_ranges(["physnet1:100:199", "physnet2", "physnet1:300:300"])
    assert physnets == ["physnet1", "physnet2"]
    assert ranges == [VlanRange("physnet1", 100, 199), VlanRange("physnet1", 300, 300)]
    assert list(ranges[1].ids()) == [300]


@pytest.mark.parametrize("entry", ["", "physnet1:1", "physnet1:a:b", "physnet1:0:10", "p:10:5",
                                   "p:1:4095"])  # fmt: skip
def test_bad_vlan_ranges_name_the_entry(entry: str) -> None:
    with pytest.raises(ConfigError, match="network_vlan_ranges"):
        parse_vlan_ranges([entry])


def test_random_mac_has_the_prefix() -> None:
    mac = random_mac("fa:16:3e", random.Random(7))
    assert mac.startswith("fa:16:3e:")
    assert len(mac.split(":")) == 6
