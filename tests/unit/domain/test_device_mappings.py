"""The SR-IOV NIC agent's ``physical_device_mappings`` / ``exclude_devices`` grammar.

Outcomes follow Neutron's ``parse_mappings(..., unique_keys=False)``,
``parse_exclude_devices`` and the agent's ``_validate``; the one deliberate
difference (a PF under two physnets is refused) is tested at the end.
"""

from __future__ import annotations

import pytest

from vfplane.domain.device_mappings import (
    DeviceMappings,
    parse_device_mappings,
    parse_exclude_devices,
    parse_physical_device_mappings,
)
from vfplane.domain.pci import PciAddress
from vfplane.errors import ConfigError, InvalidDeviceMapping


def addr(text: str) -> PciAddress:
    return PciAddress.parse(text)


# --- physical_device_mappings --------------------------------------------------------------


def test_one_mapping() -> None:
    assert parse_physical_device_mappings("physnet2:eth3") == {"physnet2": ("eth3",)}


def test_a_physnet_may_list_several_pfs_in_order() -> None:
    value = "physnet2:eth3,physnet2:eth4,physnet1:ens1f0"
    assert parse_physical_device_mappings(value) == {
        "physnet2": ("eth3", "eth4"),
        "physnet1": ("ens1f0",),
    }


def test_list_form_is_the_same_as_comma_form() -> None:
    as_text = parse_physical_device_mappings("physnet2:eth3,physnet2:eth4")
    as_list = parse_physical_device_mappings(["physnet2:eth3", "physnet2:eth4"])
    assert as_list == as_text


def test_a_repeated_mapping_is_kept_once() -> None:
    assert parse_physical_device_mappings("physnet2:eth3, physnet2:eth3") == {"physnet2": ("eth3",)}


def test_whitespace_and_empty_items_are_ignored() -> None:
    value = [" physnet1 : eth0 ", "", " , physnet1:eth1,,"]
    assert parse_physical_device_mappings(value) == {"physnet1": ("eth0", "eth1")}


@pytest.mark.parametrize("value", ["", [], ",", ["", " "]])
def test_no_mappings(value: str | list[str]) -> None:
    assert parse_physical_device_mappings(value) == {}


@pytest.mark.parametrize("item", ["physnet1", "physnet1:eth0:x", "physnet1=eth0", "a:b:c:d"])
def test_item_without_exactly_one_colon_is_invalid(item: str) -> None:
    with pytest.raises(InvalidDeviceMapping) as info:
        parse_physical_device_mappings(f"physnet9:eth9,{item}")
    message = str(info.value)
    assert "invalid mapping" in message
    assert item in message


@pytest.mark.parametrize("item", [":eth0", " :eth0"])
def test_missing_physnet_is_rejected(item: str) -> None:
    with pytest.raises(InvalidDeviceMapping, match="missing key"):
        parse_physical_device_mappings(item)


@pytest.mark.parametrize("item", ["physnet1:", "physnet1: "])
def test_missing_interface_is_rejected(item: str) -> None:
    with pytest.raises(InvalidDeviceMapping, match="missing value"):
        parse_physical_device_mappings(item)


# --- exclude_devices -----------------------------------------------------------------------

PHYSNETS = {"physnet1": ("eth1",), "physnet2": ("eth2", "eth3")}


def test_exclude_devices_example_from_the_docs() -> None:
    value = "eth1:0000:07:00.2;0000:07:00.3,eth2:0000:05:00.1"
    assert parse_exclude_devices(value, PHYSNETS) == {
        "eth1": frozenset({addr("0000:07:00.2"), addr("0000:07:00.3")}),
        "eth2": frozenset({addr("0000:05:00.1")}),
    }


def test_each_entry_splits_at_its_first_colon_only() -> None:
    excluded = parse_exclude_devices("eth1:0000:07:00.2", PHYSNETS)
    assert list(excluded) == ["eth1"]
    assert excluded["eth1"] == frozenset({addr("0000:07:00.2")})


def test_blank_addresses_are_skipped_and_spaces_stripped() -> None:
    excluded = parse_exclude_devices(" eth1 : 0000:07:00.2 ;; 0000:07:00.3 ;", PHYSNETS)
    assert excluded == {"eth1": frozenset({addr("0000:07:00.2"), addr("0000:07:00.3")})}


def test_a_pf_with_nothing_after_the_colon_excludes_nothing() -> None:
    assert parse_exclude_devices("eth1:", PHYSNETS) == {"eth1": frozenset()}


def test_no_exclusions() -> None:
    assert parse_exclude_devices("", PHYSNETS) == {}
    assert parse_exclude_devices([], {}) == {}


def test_entry_without_a_colon_is_invalid() -> None:
    with pytest.raises(InvalidDeviceMapping, match="invalid mapping 'eth1'"):
        parse_exclude_devices("eth1", PHYSNETS)


def test_entry_without_a_pf_name_is_rejected() -> None:
    with pytest.raises(InvalidDeviceMapping, match="missing key"):
        parse_exclude_devices(":0000:07:00.2", PHYSNETS)


def test_a_pf_may_appear_only_once() -> None:
    with pytest.raises(InvalidDeviceMapping) as info:
        parse_exclude_devices("eth1:0000:07:00.2,eth1:0000:07:00.3", PHYSNETS)
    message = str(info.value)
    assert "eth1" in message
    assert "not unique" in message


def test_excluded_pf_must_be_mapped() -> None:
    with pytest.raises(InvalidDeviceMapping) as info:
        parse_exclude_devices("eth9:0000:07:00.2", PHYSNETS)
    message = str(info.value)
    assert "eth9" in message
    assert "missing from physical_device_mappings" in message


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("0000:07:00.8", "0000:07:00.8"),
        ("zz", "zz"),
        ("07-00-2", "07-00-2"),
        # An out-of-range field is reported by field, not by the whole text.
        ("0000:07:20.0", "slot 0x20"),
    ],
)
def test_bad_pci_address_in_exclude_list_is_rejected(bad: str, needle: str) -> None:
    with pytest.raises(InvalidDeviceMapping) as info:
        parse_exclude_devices(f"eth2:0000:05:00.1;{bad}", PHYSNETS)
    message = str(info.value)
    assert "eth2" in message
    assert needle in message


def test_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        parse_device_mappings("physnet1")


# --- the combined object -------------------------------------------------------------------


def test_parse_device_mappings_combines_both_options() -> None:
    mappings = parse_device_mappings(
        "physnet1:eth1,physnet2:eth2,physnet2:eth3", "eth2:0000:05:00.1;0000:05:00.2"
    )
    assert mappings.physnets == {"physnet1": ("eth1",), "physnet2": ("eth2", "eth3")}
    assert mappings.physnet_of("eth3") == "physnet2"
    assert mappings.physnet_of("eth1") == "physnet1"
    assert mappings.physnet_of("eth9") is None
    assert mappings.physnet_of(None) is None
    assert mappings.is_excluded("eth2", addr("0000:05:00.2"))
    assert not mappings.is_excluded("eth2", addr("0000:05:00.3"))
    assert not mappings.is_excluded("eth3", addr("0000:05:00.2"))
    assert not mappings.is_excluded(None, addr("0000:05:00.2"))


def test_exclude_is_checked_against_the_parsed_mappings() -> None:
    with pytest.raises(InvalidDeviceMapping, match="eth3"):
        parse_device_mappings("physnet1:eth1", "eth3:0000:05:00.1")


def test_defaults_are_empty() -> None:
    assert parse_device_mappings(()) == DeviceMappings()


# --- deliberate difference from Neutron ----------------------------------------------------


def test_a_pf_under_two_physnets_is_rejected() -> None:
    """Neutron accepts ``physnet1:eth1,physnet2:eth1``; vfplane refuses it on purpose."""
    with pytest.raises(InvalidDeviceMapping) as info:
        parse_physical_device_mappings("physnet1:eth1,physnet2:eth1")
    message = str(info.value)
    assert "eth1" in message
    assert "physnet1" in message
    assert "physnet2" in message
    doc = parse_physical_device_mappings.__doc__ or ""
    assert "Unlike Neutron" in doc


def test_bad_excluded_address_names_what_was_written() -> None:
    from vfplane.domain.device_mappings import parse_exclude_devices
    from vfplane.errors import InvalidDeviceMapping

    with pytest.raises(InvalidDeviceMapping, match=r"ens1f0: '0000:07:20\.2' is not a PCI address"):
        parse_exclude_devices("ens1f0:0000:07:20.2", {"physnet1": ("ens1f0",)})
