"""``[pci] device_spec`` parsing and matching agree with Nova's devspec/whitelist.

The host below is a hand-written fake of what sysfs would say:

* ``0000:0a:00.0`` an Intel PF (8086:1572) with 4 VFs (8086:154c) at ``0000:0a:02.0-3``,
  netdev ``ens1f0``; its first VF is ``ens1f0v0``;
* ``0000:0b:00.0`` an Intel NIC (8086:10fb) that can do SR-IOV but has sriov_totalvfs 0,
  netdev ``eno1``;
* ``0000:3b:00.0`` a Mellanox smart NIC PF (15b3:a2d6) whose VFs are 15b3:101e, netdev ``p0``;
* ``0000:0c:00.0`` a GPU (10de:1db4) with no SR-IOV at all;
* ``10000:01:00.0`` an NVMe drive behind VMD, in a 32-bit PCI domain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from vfplane.domain.devspec import (
    DeviceSpecList,
    MatchSubject,
    PciFacts,
    parse_device_spec,
    parse_strict_bool,
)
from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.domain.pci_address_spec import GlobAddressSpec, RegexAddressSpec
from vfplane.errors import ConfigError, InvalidDeviceSpec


@dataclass
class FakePciFacts:
    """The ``PciFacts`` protocol backed by plain dicts."""

    totalvfs: dict[PciAddress, int] = field(default_factory=dict)
    ids: dict[PciAddress, tuple[str, str]] = field(default_factory=dict)
    vf_products: dict[PciAddress, str] = field(default_factory=dict)
    netdevs: dict[str, PciAddress] = field(default_factory=dict)

    def sriov_totalvfs(self, address: PciAddress) -> int | None:
        return self.totalvfs.get(address)

    def pci_ids(self, address: PciAddress) -> tuple[str, str] | None:
        return self.ids.get(address)

    def sriov_vf_device(self, address: PciAddress) -> str | None:
        return self.vf_products.get(address)

    def netdev_address(self, ifname: str) -> PciAddress | None:
        return self.netdevs.get(ifname)


def addr(text: str) -> PciAddress:
    return PciAddress.parse(text)


INTEL_PF = addr("0000:0a:00.0")
INTEL_VFS = [addr(f"0000:0a:02.{i}") for i in range(4)]
NO_VF_NIC = addr("0000:0b:00.0")
SMART_PF = addr("0000:3b:00.0")
SMART_VF = addr("0000:3b:00.2")
GPU = addr("0000:0c:00.0")
WIDE = PciAddress(0x10000, 0x01, 0x00, 0)
SERIAL = "MT2113X00000"


def host() -> FakePciFacts:
    return FakePciFacts(
        totalvfs={INTEL_PF: 4, NO_VF_NIC: 0, SMART_PF: 8},
        ids={
            INTEL_PF: ("8086", "1572"),
            NO_VF_NIC: ("8086", "10fb"),
            SMART_PF: ("15b3", "a2d6"),
            GPU: ("10de", "1db4"),
        },
        vf_products={INTEL_PF: "154c", SMART_PF: "101e"},
        netdevs={
            "ens1f0": INTEL_PF,
            "ens1f0v0": INTEL_VFS[0],
            "eno1": NO_VF_NIC,
            "p0": SMART_PF,
        },
    )


def pf() -> PciDevice:
    return PciDevice(INTEL_PF, "8086", "1572", DeviceType.PF, sriov_totalvfs=4)


def vf(index: int = 1, parent: PciAddress | None = INTEL_PF) -> PciDevice:
    return PciDevice(INTEL_VFS[index], "8086", "154c", DeviceType.VF, parent_addr=parent)


def device(
    address: str | PciAddress,
    vendor: str = "8086",
    product: str = "1572",
    parent: PciAddress | None = None,
    serial: str | None = None,
) -> PciDevice:
    where = address if isinstance(address, PciAddress) else addr(address)
    kind = DeviceType.VF if parent else DeviceType.PCI
    return PciDevice(where, vendor, product, kind, parent_addr=parent, card_serial_number=serial)


def smart_vf(serial: str | None = SERIAL) -> PciDevice:
    return device(SMART_VF, "15b3", "101e", parent=SMART_PF, serial=serial)


def parse(*values: object, facts: PciFacts | None = None) -> DeviceSpecList:
    return parse_device_spec(values, facts if facts is not None else host())


def one(value: object, facts: PciFacts | None = None) -> DeviceSpecList:
    specs = parse(value, facts=facts)
    assert len(specs.entries) == 1
    return specs


def matches(specs: DeviceSpecList, dev: PciDevice, facts: PciFacts | None = None) -> bool:
    return specs.match(dev, facts if facts is not None else host()) is not None


def reject(value: object, facts: PciFacts | None = None) -> str:
    with pytest.raises(InvalidDeviceSpec) as info:
        parse(value, facts=facts)
    return str(info.value)


# --- the option's values: JSON text or decoded objects -------------------------------------


def test_json_text_and_decoded_object_give_the_same_entry() -> None:
    raw = {"vendor_id": "8086", "product_id": "154c", "physical_network": "physnet1"}
    assert parse(json.dumps(raw)).entries == parse(raw).entries


def test_json_list_and_decoded_list_give_the_same_entries() -> None:
    raw = [{"address": "0000:0a:02.*"}, {"vendor_id": "10de", "physical_network": None}]
    from_text, from_list = parse(json.dumps(raw)), parse(raw)
    assert from_text.entries == from_list.entries
    assert [e.index for e in from_list.entries] == [0, 1]


def test_entries_are_numbered_across_option_values() -> None:
    specs = parse('[{"vendor_id": "8086"}, {"vendor_id": "15b3"}]', {"vendor_id": "10de"})
    assert [(e.index, e.vendor_id) for e in specs.entries] == [
        (0, "8086"),
        (1, "15b3"),
        (2, "10de"),
    ]


@pytest.mark.parametrize("values", [(), ("[]",), ([],)])
def test_no_entries_means_nothing_is_assignable(values: tuple[object, ...]) -> None:
    specs = parse(*values)
    assert specs.entries == ()
    assert specs.match(pf(), host()) is None
    assert specs.explain(pf(), host()) == []


@pytest.mark.parametrize("text", ["{", "not json", "{'vendor_id': '8086'}", '{"a": 1,}'])
def test_text_that_is_not_json_is_an_invalid_entry(text: str) -> None:
    message = reject(text)
    assert message.startswith("device_spec: Invalid entry")
    assert text in message


@pytest.mark.parametrize("value", ['"8086"', "5", "null", "true", 5, 3.5, True])
def test_json_that_is_neither_list_nor_object_is_rejected(value: object) -> None:
    message = reject(value)
    assert "Invalid entry" in message
    assert "Expecting list or dict" in message


@pytest.mark.parametrize("value", ['[{"vendor_id": "8086"}, "8086"]', [{}, 5], "[[]]"])
def test_list_elements_must_be_objects(value: object) -> None:
    message = reject(value)
    assert "Invalid entry" in message
    assert "Expecting dict" in message


def test_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        parse("{")


# --- vendor_id / product_id ----------------------------------------------------------------


def test_ids_default_to_any() -> None:
    specs = one({})
    entry = specs.entries[0]
    assert (entry.vendor_id, entry.product_id) == ("*", "*")
    assert all(matches(specs, d) for d in (pf(), vf(), device(GPU, "10de", "1db4")))


def test_explicit_star_is_any() -> None:
    specs = one({"vendor_id": "*", "product_id": "*"})
    assert matches(specs, device(GPU, "10de", "1db4"))


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("8086", "8086"),
        ("0x8086", "8086"),
        ("0X15B3", "15b3"),
        ("15B3", "15b3"),
        ("86", "0086"),
        (" 8086 ", "8086"),
        ("ffff", "ffff"),
    ],
)
def test_ids_are_hex_normalised_to_four_lower_case_digits(given: str, normalised: str) -> None:
    entry = one({"vendor_id": given, "product_id": given}).entries[0]
    assert entry.vendor_id == normalised
    assert entry.product_id == normalised


def test_ids_match_devices_case_insensitively() -> None:
    specs = one({"vendor_id": "15B3", "product_id": "0x101E"})
    assert matches(specs, device("0000:3b:00.4", "15b3", "101e"))
    assert matches(specs, device("0000:3b:00.4", "15B3", "101E"))


@pytest.mark.parametrize("key", ["vendor_id", "product_id"])
def test_id_above_ffff_is_rejected_with_novas_wording(key: str) -> None:
    message = reject({key: "80860"})
    assert f"property {key} (80860) is greater than the maximum allowable value (FFFF)." in message


@pytest.mark.parametrize("value", ["xyz", "", "0x", "80 86", "80*6", "-1"])
def test_id_that_is_not_hex_is_rejected(value: str) -> None:
    message = reject({"vendor_id": value})
    assert "vendor_id" in message
    assert "does not parse as a hex number" in message


@pytest.mark.parametrize("value", [8086, 0x8086, None, ["8086"], {"id": "8086"}, True])
def test_ids_must_be_json_strings(value: object) -> None:
    message = reject({"product_id": value})
    assert "product_id" in message
    assert repr(value) in message


def test_vendor_and_product_must_both_match() -> None:
    specs = one({"vendor_id": "8086", "product_id": "154c"})
    assert matches(specs, vf())
    assert not matches(specs, pf())
    assert not matches(specs, device("0000:3b:00.2", "15b3", "154c"))


# --- glob addresses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (":0a:00.", ("*", "0a", "00", "*")),
        (".5", ("*", "*", "*", "5")),
        ("0000:06:", ("0000", "06", "*", "*")),
        ("0000:0a:00", ("0000", "0a", "00", "*")),
        ("0a:00.1", ("*", "0a", "00", "1")),
        ("00.1", ("*", "*", "00", "1")),
        ("*: *: *.6", ("*", "*", "*", "6")),
        ("0:a:0.1", ("0000", "0a", "00", "1")),
        ("0x0:0xa:0x1f.0x7", ("0000", "0a", "1f", "7")),
        ("*:*:*.*", ("*", "*", "*", "*")),
        ("", ("*", "*", "*", "*")),
    ],
)
def test_glob_fields_are_wildcarded_and_normalised(
    text: str, fields: tuple[str, str, str, str]
) -> None:
    spec = GlobAddressSpec.parse(text)
    assert (spec.domain, spec.bus, spec.slot, spec.function) == fields


def test_glob_leading_colon_fixes_bus_and_slot() -> None:
    specs = one({"address": ":0a:00."})
    assert matches(specs, device("0000:0a:00.5"))
    assert matches(specs, device("0001:0a:00.0"))
    assert not matches(specs, device("0000:0b:00.5"))
    assert not matches(specs, device("0000:0a:01.5"))


def test_glob_dot_function_alone_fixes_the_function() -> None:
    specs = one({"address": ".5"})
    assert matches(specs, device("0000:0a:00.5"))
    assert matches(specs, device("0003:7f:1f.5"))
    assert not matches(specs, device("0000:0a:00.4"))


def test_glob_domain_and_bus_with_trailing_colon_fixes_the_bus() -> None:
    specs = one({"address": "0000:06:"})
    assert matches(specs, device("0000:06:00.0"))
    assert matches(specs, device("0000:06:1f.7"))
    assert not matches(specs, device("0000:07:00.0"))
    assert not matches(specs, device("0001:06:00.0"))


def test_glob_without_function_matches_every_function_of_the_slot() -> None:
    specs = one({"address": "0000:0a:02"})
    for index in range(4):
        assert matches(specs, vf(index))
    assert matches(specs, device("0000:0a:02.7"))
    assert not matches(specs, device("0000:0a:03.0"))
    assert not matches(specs, pf())


def test_glob_fully_wild_and_missing_address_match_everything() -> None:
    for value in ({"address": "*:*:*.*"}, {"address": ""}, {}):
        specs = one(value)
        assert matches(specs, device("0000:00:00.0"))
        assert matches(specs, device("ffff:ff:1f.7"))


@pytest.mark.parametrize(
    ("text", "wording"),
    [
        (
            "10000:0a:00.5",
            "property domain (10000) is greater than the maximum allowable value (FFFF).",
        ),
        ("0000:100:00.5", "property bus (100) is greater than the maximum allowable value (FF)."),
        ("0000:0a:20.5", "property slot (20) is greater than the maximum allowable value (1F)."),
        ("0000:0a:00.8", "property func (8) is greater than the maximum allowable value (7)."),
        ("0000:h4.12:6", "property func ('12:6') does not parse as a hex number."),
        ("0000:zz:00.0", "property bus ('zz') does not parse as a hex number."),
    ],
)
def test_glob_field_errors_use_novas_wording(text: str, wording: str) -> None:
    assert wording in reject({"address": text})


@pytest.mark.parametrize(
    "text", ["0000:0[1-2]:00.0", "0000:0a:0*.0", "0000:0a:00.[0-3]", "0000:0?:00.0", "*0:0a:00.0"]
)
def test_glob_has_no_partial_wildcards(text: str) -> None:
    message = reject({"address": text})
    assert "does not parse as a hex number" in message


@pytest.mark.parametrize("text", ["0000:0a:0b:00.5", "0:0:0:0:0", "a:b:c:d.1"])
def test_glob_with_more_than_three_colon_fields_is_rejected(text: str) -> None:
    message = reject({"address": text})
    assert text in message
    assert "address" in message


@pytest.mark.parametrize("value", [5, 1.5, ["0000", "0a", "00", "0"], True])
def test_address_that_is_neither_string_nor_object_is_rejected(value: object) -> None:
    message = reject({"address": value})
    assert "address" in message
    assert repr(value) in message


# --- regex addresses -----------------------------------------------------------------------


def test_regex_is_anchored_at_the_start_only() -> None:
    specs = one({"address": {"bus": "0"}})
    assert matches(specs, device("0000:0a:00.0"))
    assert matches(specs, device("0000:00:00.0"))
    assert not matches(specs, device("0000:1a:00.0"))
    anchored = one({"address": {"bus": "0$"}})
    assert not matches(anchored, device("0000:0a:00.0"))


def test_regex_missing_keys_match_anything() -> None:
    spec = RegexAddressSpec.parse({"slot": "02"}, [])
    assert (spec.domain, spec.bus, spec.function) == (".*", ".*", ".*")
    specs = one({"address": {"slot": "02", "function": "[0-2]"}})
    assert matches(specs, vf(0))
    assert matches(specs, vf(2))
    assert matches(specs, device("0005:7f:02.1"))
    assert not matches(specs, vf(3))
    assert not matches(specs, pf())


def test_regex_with_every_key() -> None:
    specs = one({"address": {"domain": ".*", "bus": "0a", "slot": "02", "function": "[13]"}})
    assert matches(specs, vf(1))
    assert matches(specs, vf(3))
    assert not matches(specs, vf(2))


def test_regex_matches_normalised_lower_case_fields() -> None:
    specs = one({"address": {"domain": "0000", "bus": "0a", "slot": "1f", "function": "7"}})
    assert matches(specs, device("0000:0A:1F.7"))
    upper = one({"address": {"bus": "0A"}})
    assert not matches(upper, device("0000:0a:00.0"))


@pytest.mark.parametrize(
    ("key", "pattern"),
    [("domain", "*"), ("bus", "["), ("slot", "(0"), ("function", "+"), ("bus", "a{2,1}")],
)
def test_regex_that_does_not_compile_is_rejected(key: str, pattern: str) -> None:
    message = reject({"address": {key: pattern}})
    assert key in message
    assert pattern in message


@pytest.mark.parametrize("pattern", [5, None, ["0a"], {"re": "0a"}, True])
def test_regex_values_must_be_strings(pattern: object) -> None:
    message = reject({"address": {"bus": pattern}})
    assert "bus" in message
    assert repr(pattern) in message


def test_regex_unknown_key_is_ignored_with_a_warning() -> None:
    specs = one({"address": {"bus": "0a", "func": "1"}})
    assert matches(specs, vf(0))
    assert any("func" in w and "entry 0" in w for w in specs.warnings)


def test_empty_regex_object_means_any_address() -> None:
    specs = one({"address": {}})
    assert matches(specs, device(GPU, "10de", "1db4"))


# --- PF -> VF expansion --------------------------------------------------------------------


def test_pf_address_matches_the_pf_and_its_vfs() -> None:
    specs = one({"address": "0000:0a:00.0"})
    assert specs.entries[0].pf_address == INTEL_PF
    assert matches(specs, pf())
    for index in range(4):
        assert matches(specs, vf(index))


def test_pf_expansion_needs_the_vf_to_name_that_pf_as_parent() -> None:
    specs = one({"address": "0000:0a:00.0"})
    assert not matches(specs, vf(1, parent=None))
    assert not matches(specs, vf(1, parent=SMART_PF))


def test_pf_expansion_still_filters_on_ids() -> None:
    specs = one({"address": "0000:0a:00.0", "product_id": "154c"})
    assert matches(specs, vf(2))
    assert not matches(specs, pf())


def test_pf_address_in_regex_form_also_expands() -> None:
    regex = {"domain": "0000", "bus": "0a", "slot": "00", "function": "0"}
    specs = one({"address": regex})
    assert specs.entries[0].pf_address == INTEL_PF
    assert matches(specs, vf(3))


@pytest.mark.parametrize(
    "address",
    [
        "0a:00.0",
        "0000:0a:00",
        "0000:0a:00.*",
        "*:0a:00.0",
        {"bus": "0a", "slot": "00", "function": "0"},
        {"domain": "0000", "bus": "0a", "slot": "00", "function": "0$"},
        {"domain": "0", "bus": "a", "slot": "0", "function": "0"},
    ],
)
def test_only_a_fully_specified_address_expands(address: object) -> None:
    specs = one({"address": address})
    assert specs.entries[0].pf_address is None
    assert not matches(specs, vf(1))


def test_pf_with_zero_total_vfs_does_not_expand() -> None:
    specs = one({"address": "0000:0b:00.0"})
    assert specs.entries[0].pf_address is None
    assert matches(specs, device(NO_VF_NIC, "8086", "10fb"))
    assert not matches(specs, device("0000:0b:10.0", "8086", "10ed", parent=NO_VF_NIC))


def test_device_without_sriov_totalvfs_does_not_expand() -> None:
    specs = one({"address": "0000:0c:00.0"})
    assert specs.entries[0].pf_address is None
    assert not matches(specs, device("0000:0c:00.1", parent=GPU))


def test_vf_address_matches_only_that_vf() -> None:
    specs = one({"address": "0000:0a:02.1"})
    assert matches(specs, vf(1))
    assert not matches(specs, vf(0))
    assert not matches(specs, pf())


def test_pf_check_happens_once_at_parse_time() -> None:
    facts = host()
    facts.totalvfs[INTEL_PF] = 0
    specs = one({"address": "0000:0a:00.0"}, facts)
    facts.totalvfs[INTEL_PF] = 4
    assert not matches(specs, vf(1), facts)
    facts = host()
    specs = one({"address": "0000:0a:00.0"}, facts)
    facts.totalvfs[INTEL_PF] = 0
    assert matches(specs, vf(1), facts)


# --- devname -------------------------------------------------------------------------------


def test_pf_devname_matches_the_pf_and_its_vfs() -> None:
    specs = one({"devname": "ens1f0", "physical_network": "physnet1"})
    assert matches(specs, pf())
    for index in range(4):
        assert matches(specs, vf(index))
    assert not matches(specs, device(NO_VF_NIC, "8086", "10fb"))


def test_vf_devname_matches_only_that_vf() -> None:
    specs = one({"devname": "ens1f0v0"})
    assert matches(specs, vf(0))
    assert not matches(specs, vf(1))
    assert not matches(specs, pf())


def test_devname_of_a_device_without_vfs_matches_only_itself() -> None:
    specs = one({"devname": "eno1"})
    assert matches(specs, device(NO_VF_NIC, "8086", "10fb"))
    assert not matches(specs, device("0000:0b:10.0", "8086", "10ed", parent=NO_VF_NIC))


def test_unresolvable_devname_matches_nothing_and_warns() -> None:
    specs = one({"devname": "ens9f9", "physical_network": "physnet1"})
    assert not matches(specs, pf())
    assert not matches(specs, vf())
    assert any("ens9f9" in w and "entry 0" in w for w in specs.warnings)
    [(_, verdict)] = specs.explain(pf(), host())
    assert not verdict.matched
    assert "ens9f9" in verdict.reason


def test_devname_is_resolved_again_on_every_match() -> None:
    facts = host()
    specs = one({"devname": "ens1f0"}, facts)
    assert matches(specs, vf(2), facts)
    del facts.netdevs["ens1f0"]
    assert not matches(specs, vf(2), facts)
    facts.netdevs["ens1f0"] = SMART_PF
    assert matches(specs, smart_vf(), facts)
    assert not matches(specs, vf(2), facts)


def test_devname_that_appears_later_starts_matching() -> None:
    facts = host()
    specs = one({"devname": "ens2f0"}, facts)
    assert specs.warnings
    assert not matches(specs, vf(1), facts)
    facts.netdevs["ens2f0"] = INTEL_PF
    assert matches(specs, vf(1), facts)


@pytest.mark.parametrize("address", ["*:*:*.5", "0000:0a:00.0", {"bus": "0a"}])
def test_devname_with_address_is_rejected(address: object) -> None:
    message = reject({"devname": "ens1f0", "address": address})
    assert "devname" in message
    assert "address" in message


def test_empty_devname_counts_as_absent() -> None:
    with_address = one({"devname": "", "address": "0000:0a:02.1"})
    assert with_address.entries[0].devname is None
    assert matches(with_address, vf(1))
    assert not matches(with_address, vf(0))
    alone = one({"devname": ""})
    assert matches(alone, device(GPU, "10de", "1db4"))


def test_devname_must_be_a_string() -> None:
    message = reject({"devname": ["ens1f0"]})
    assert "devname" in message


# --- remote_managed ------------------------------------------------------------------------


def remote(**extra: object) -> dict[str, object]:
    return {"address": "0000:3b:00.0", "remote_managed": "true", **extra}


def test_remote_managed_pf_address_with_the_vf_product_is_accepted() -> None:
    specs = one(remote(vendor_id="15b3", product_id="101e"))
    assert matches(specs, smart_vf())
    assert not matches(specs, device(SMART_PF, "15b3", "a2d6"))


def test_remote_managed_any_vendor_with_the_vf_product_is_accepted() -> None:
    specs = one(remote(vendor_id="*", product_id="0x101E"))
    assert matches(specs, smart_vf())


@pytest.mark.parametrize(("vendor", "product"), [("15b3", "a2d6"), ("15b3", "*"), ("*", "*")])
def test_remote_managed_on_a_pf_is_rejected(vendor: str, product: str) -> None:
    message = reject(remote(vendor_id=vendor, product_id=product))
    assert "remote_managed" in message
    assert "0000:3b:00.0" in message


@pytest.mark.parametrize(
    ("vendor", "product"), [("8086", "101e"), ("15b3", "1234"), ("8086", "1234"), ("8086", "*")]
)
def test_remote_managed_with_ids_unlike_the_pfs_vfs_is_rejected(vendor: str, product: str) -> None:
    message = reject(remote(vendor_id=vendor, product_id=product))
    assert "do not match the expected VF IDs" in message
    assert "0000:3b:00.0" in message


def test_remote_managed_pf_devname_follows_the_same_rules() -> None:
    specs = one({"devname": "p0", "remote_managed": "yes", "product_id": "101e"})
    assert matches(specs, smart_vf())
    message = reject({"devname": "p0", "remote_managed": "true", "product_id": "a2d6"})
    assert "remote_managed" in message


def test_remote_managed_with_unresolvable_devname_is_rejected() -> None:
    message = reject({"devname": "p9", "remote_managed": "true", "product_id": "101e"})
    assert "p9" in message
    assert "remote_managed" in message


def test_remote_managed_false_on_a_pf_is_fine() -> None:
    specs = one(remote(vendor_id="15b3", product_id="a2d6", remote_managed="false"))
    assert matches(specs, device(SMART_PF, "15b3", "a2d6"))


@pytest.mark.parametrize("address", ["0000:3b:00.2", "0000:3b:*.*", "", {"bus": "3b"}])
def test_remote_managed_on_non_pf_addresses_needs_no_sysfs_check(address: object) -> None:
    specs = one({"address": address, "remote_managed": "true"}, FakePciFacts())
    assert matches(specs, smart_vf(), FakePciFacts())


@pytest.mark.parametrize("serial", [None, ""])
def test_remote_managed_needs_a_card_serial_number(serial: str | None) -> None:
    specs = one(remote(product_id="101e"))
    assert not matches(specs, smart_vf(serial))
    [(_, verdict)] = specs.explain(smart_vf(serial), host())
    assert not verdict.matched
    assert "serial" in verdict.reason


def test_serial_number_is_not_needed_without_remote_managed() -> None:
    specs = one({"address": "0000:3b:00.0", "product_id": "101e"})
    assert matches(specs, smart_vf(None))


def test_match_subject_reads_the_serial_from_vpd_capabilities() -> None:
    specs = one(remote(product_id="101e"))
    raw = {
        "address": "0000:3b:00.2",
        "vendor_id": "15b3",
        "product_id": "101e",
        "parent_addr": "0000:3b:00.0",
        "capabilities": {"vpd": {"card_serial_number": SERIAL}},
    }
    assert specs.match(MatchSubject.from_mapping(raw), host()) is not None
    raw["capabilities"] = {"vpd": {"card_serial_number": ""}}
    assert specs.match(MatchSubject.from_mapping(raw), host()) is None


# --- tags ----------------------------------------------------------------------------------


BOOLEAN_TAGS = ["trusted", "remote_managed", "managed", "live_migratable", "one_time_use"]


@pytest.mark.parametrize("tag", BOOLEAN_TAGS)
@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("true", "true"),
        ("TrUe", "true"),
        ("yes", "true"),
        (" on ", "true"),
        ("1", "true"),
        ("t", "true"),
        ("Y", "true"),
        (True, "true"),
        (1, "true"),
        ("false", "false"),
        ("NO", "false"),
        ("off", "false"),
        ("0", "false"),
        ("f", "false"),
        ("n", "false"),
        (False, "false"),
        (0, "false"),
    ],
)
def test_boolean_tags_are_normalised(tag: str, value: object, normalised: str) -> None:
    specs = one({"address": "0000:0a:02.*", tag: value}, FakePciFacts())
    assert specs.entries[0].tags[tag] == normalised


@pytest.mark.parametrize("tag", BOOLEAN_TAGS)
def test_bad_boolean_tag_uses_novas_message(tag: str) -> None:
    message = reject({"address": "0000:0a:02.*", tag: "invalid"})
    assert (
        f"Cannot parse tag '{tag}': Unrecognized value 'invalid', acceptable values are: "
        "'0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
    ) in message


@pytest.mark.parametrize("value", ["2", "maybe", "", 1.0, "truee"])
def test_strict_bool_rejects_anything_else(value: object) -> None:
    with pytest.raises(InvalidDeviceSpec, match="Cannot parse tag 'managed'"):
        parse_strict_bool("managed", value)


def test_physical_network_may_be_null_for_overlay_networks() -> None:
    tags = one({"vendor_id": "8086", "physical_network": None}).entries[0].tags
    assert "physical_network" in tags
    assert tags["physical_network"] is None


def test_physical_network_name_is_kept() -> None:
    specs = one({"devname": "ens1f0", "physical_network": "physnet1"})
    match = specs.match(vf(), host())
    assert match is not None
    assert match.tags == {"physical_network": "physnet1"}


def test_reserved_keys_are_not_tags() -> None:
    tags = one({"vendor_id": "8086", "product_id": "154c", "address": "0000:0a:02.*"})
    assert tags.entries[0].tags == {}


def test_known_tags_give_no_warning() -> None:
    raw = {
        "address": "0000:0a:02.*",
        "physical_network": "physnet1",
        "trusted": "true",
        "managed": "no",
        "resource_class": "CUSTOM_VF",
        "traits": "CUSTOM_A,CUSTOM_B",
    }
    specs = one(raw)
    assert specs.warnings == ()
    assert specs.entries[0].tags["traits"] == "CUSTOM_A,CUSTOM_B"


def test_unknown_key_is_kept_as_a_tag_with_a_did_you_mean_warning() -> None:
    specs = one({"vendor_id": "8086", "physical_netwrok": "physnet1"})
    assert specs.entries[0].tags == {"physical_netwrok": "physnet1"}
    [warning] = specs.warnings
    assert "entry 0" in warning
    assert "physical_netwrok" in warning
    assert "did you mean 'physical_network'" in warning


def test_unknown_key_without_a_close_match_still_warns() -> None:
    specs = one({"colour": "blue", "rack": 7})
    assert specs.entries[0].tags == {"colour": "blue", "rack": "7"}
    assert len(specs.warnings) == 2
    assert all("did you mean" not in w for w in specs.warnings)


# --- which entry wins, and why not ---------------------------------------------------------


def test_first_matching_entry_wins() -> None:
    specs = parse(
        {"address": "0000:0b:*.*", "physical_network": "physnet9"},
        {"address": "0000:0a:02.1", "physical_network": "physnet1", "trusted": "true"},
        {"vendor_id": "8086", "physical_network": "physnet2"},
    )
    first = specs.match(vf(1), host())
    assert first is not None
    assert first.spec.index == 1
    assert first.tags == {"physical_network": "physnet1", "trusted": "true"}
    other = specs.match(vf(2), host())
    assert other is not None
    assert other.tags == {"physical_network": "physnet2"}
    assert specs.match(device(GPU, "10de", "1db4"), host()) is None


def test_explain_gives_a_reason_for_every_non_match() -> None:
    specs = parse(
        {"vendor_id": "15b3"},
        {"product_id": "1572"},
        {"address": "0000:0b:00.0"},
        {"devname": "missing0"},
        {"vendor_id": "8086", "remote_managed": "true"},
        {"address": {"bus": "0a"}},
    )
    verdicts = specs.explain(vf(1), host())
    assert [spec.index for spec, _ in verdicts] == list(range(6))
    assert [v.matched for _, v in verdicts] == [False] * 5 + [True]
    for _, verdict in verdicts[:5]:
        assert verdict.reason
    assert "vendor_id" in verdicts[0][1].reason
    assert "product_id" in verdicts[1][1].reason
    assert "0000:0a:02.1" in verdicts[2][1].reason
    assert "missing0" in verdicts[3][1].reason
    assert "serial" in verdicts[4][1].reason


def test_describe_names_the_entry() -> None:
    specs = parse({"vendor_id": "8086"}, {"devname": "ens1f0"})
    assert "entry 0" in specs.entries[0].describe()
    assert "ens1f0" in specs.entries[1].describe()


# --- 32-bit PCI domains --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"vendor_id": "8086"},
        {"address": "*:01:00.0"},
        {"address": ":01:00."},
        {"address": ".0"},
        {"address": {"domain": "10000"}},
        {"address": {"domain": "1", "bus": "01"}},
    ],
)
def test_wide_domain_devices_match_wildcard_specs(value: dict[str, object]) -> None:
    assert matches(one(value), device(WIDE, "8086", "0a54"))


@pytest.mark.parametrize("address", ["0000:01:00.0", "0001:01:00.0", {"domain": "0000"}])
def test_wide_domain_devices_do_not_match_narrow_domains(address: object) -> None:
    assert not matches(one({"address": address}), device(WIDE, "8086", "0a54"))


def test_glob_cannot_name_a_wide_domain() -> None:
    assert "greater than the maximum allowable value (FFFF)" in reject({"address": "10000:01:"})


# --- error messages name the entry and the offending value ---------------------------------


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"vendor_id": "zz"}, "zz"),
        ({"address": "0000:0a:00.9"}, "0000:0a:00.9"),
        ({"address": {"slot": "("}}, "("),
        ({"managed": "perhaps"}, "perhaps"),
        ({"devname": "eth0", "address": "0000:0a:00.0"}, "devname"),
        ({"physical_network": 5}, "physical_network"),
    ],
)
def test_errors_name_the_entry_index_and_the_value(bad: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidDeviceSpec) as info:
        parse('[{"vendor_id": "8086"}, {"product_id": "154c"}]', bad)
    message = str(info.value)
    assert "entry 2" in message
    assert needle in message


@pytest.mark.parametrize("value", ["", "  ", 5, ["physnet1"], {"name": "physnet1"}, True])
def test_physical_network_must_be_a_name_or_null(value: object) -> None:
    assert "physical_network" in reject({"physical_network": value})
