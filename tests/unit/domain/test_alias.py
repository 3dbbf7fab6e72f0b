"""``[pci] alias`` parsing agrees with Nova's ``get_alias_from_config`` and its schema."""

from __future__ import annotations

import json

import pytest

from vfplane.domain.alias import Alias, NumaPolicy, parse_aliases
from vfplane.errors import ConfigError, InvalidAlias


def alias(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"name": "nic", "vendor_id": "8086", "product_id": "154c"}
    return {**base, **fields}


def without(*keys: str, **fields: object) -> dict[str, object]:
    raw = alias(**fields)
    for key in keys:
        del raw[key]
    return raw


def reject(*values: object) -> str:
    with pytest.raises(InvalidAlias) as info:
        parse_aliases(values)
    return str(info.value)


def test_a_complete_alias() -> None:
    text = json.dumps(
        {
            "name": "QuickAssist",
            "capability_type": "pci",
            "vendor_id": "8086",
            "product_id": "0443",
            "device_type": "type-PCI",
            "numa_policy": "required",
            "live_migratable": "true",
        }
    )
    assert parse_aliases([text]) == {
        "QuickAssist": Alias(
            "QuickAssist",
            NumaPolicy.REQUIRED,
            (
                {
                    "vendor_id": "8086",
                    "product_id": "0443",
                    "dev_type": "type-PCI",
                    "capability_type": "pci",
                    "live_migratable": "true",
                },
            ),
        )
    }


def test_json_text_and_decoded_object_agree() -> None:
    raw = alias(device_type="type-VF", numa_policy="preferred")
    assert parse_aliases([json.dumps(raw)]) == parse_aliases([raw])


def test_no_aliases() -> None:
    assert parse_aliases([]) == {}


def test_minimal_alias_defaults_to_legacy_and_no_device_type() -> None:
    parsed = parse_aliases([alias()])["nic"]
    assert parsed.numa_policy is NumaPolicy.LEGACY
    assert parsed.dev_type is None
    assert parsed.specs == ({"vendor_id": "8086", "product_id": "154c"},)


# --- name ----------------------------------------------------------------------------------


def test_name_is_stripped() -> None:
    assert list(parse_aliases([alias(name="  QuickAssist \t")])) == ["QuickAssist"]


@pytest.mark.parametrize("length", [1, 256])
def test_name_length_bounds_are_accepted(length: int) -> None:
    assert list(parse_aliases([alias(name="x" * length)])) == ["x" * length]


@pytest.mark.parametrize("name", ["", "x" * 257, 5, ["nic"], True])
def test_bad_name_is_rejected(name: object) -> None:
    assert "name" in reject(alias(name=name))


def test_name_is_required() -> None:
    assert "name" in reject(without("name"))


def test_stripped_names_are_the_same_alias() -> None:
    parsed = parse_aliases(
        [
            alias(name="nic ", device_type="type-VF"),
            alias(name=" nic", device_type="type-VF", product_id="1889"),
        ]
    )
    assert list(parsed) == ["nic"]
    assert len(parsed["nic"].specs) == 2


# --- vendor_id / product_id ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        without("vendor_id"),
        without("product_id"),
        without("vendor_id", "product_id"),
        without("vendor_id", "product_id", resource_class="CUSTOM_NIC"),
    ],
)
def test_both_ids_are_required(raw: dict[str, object]) -> None:
    message = reject(raw)
    assert "The PCI alias" in message
    assert "nic" in message
    assert "does not have vendor_id and product_id fields set." in message


@pytest.mark.parametrize("key", ["vendor_id", "product_id"])
@pytest.mark.parametrize("value", ["g111", "0xg111", "0x8086", "808", "80860", "80 6", 8086, ""])
def test_ids_must_be_four_hex_digits(key: str, value: object) -> None:
    message = reject(alias(**{key: value}))
    assert key in message
    assert repr(value) in message


def test_ids_in_either_case_are_accepted() -> None:
    spec = parse_aliases([alias(vendor_id="15B3", product_id="101e")])["nic"].specs[0]
    assert (spec["vendor_id"].lower(), spec["product_id"].lower()) == ("15b3", "101e")


# --- device_type ---------------------------------------------------------------------------


@pytest.mark.parametrize("device_type", ["type-PCI", "type-PF", "type-VF"])
def test_device_type_becomes_dev_type(device_type: str) -> None:
    parsed = parse_aliases([alias(device_type=device_type)])["nic"]
    assert parsed.specs[0]["dev_type"] == device_type
    assert "device_type" not in parsed.specs[0]
    assert parsed.dev_type == device_type


@pytest.mark.parametrize("device_type", ["vdpa", "N", "type-pf", "PF", 1, ["type-PF"]])
def test_other_device_types_are_rejected(device_type: object) -> None:
    assert "device_type" in reject(alias(device_type=device_type))


# --- numa_policy ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["required", "legacy", "preferred", "socket"])
def test_every_numa_policy_is_accepted(policy: str) -> None:
    assert parse_aliases([alias(numa_policy=policy)])["nic"].numa_policy == policy


@pytest.mark.parametrize("policy", ["derp", "Required", "", 1])
def test_other_numa_policies_are_rejected(policy: object) -> None:
    assert "numa_policy" in reject(alias(numa_policy=policy))


# --- repeated names ------------------------------------------------------------------------


def test_repeated_names_or_their_specs_in_order() -> None:
    parsed = parse_aliases(
        [
            alias(name="QuickAssist", product_id="0443", device_type="type-PCI"),
            alias(name="gpu", vendor_id="10de", product_id="1db4", device_type="type-PCI"),
            alias(name="QuickAssist", product_id="0442", device_type="type-PCI"),
        ]
    )
    assert list(parsed) == ["QuickAssist", "gpu"]
    assert [s["product_id"] for s in parsed["QuickAssist"].specs] == ["0443", "0442"]
    assert parsed["QuickAssist"].numa_policy is NumaPolicy.LEGACY


def test_repeats_may_leave_out_the_default_policy_on_one_side() -> None:
    parsed = parse_aliases(
        [alias(device_type="type-VF"), alias(device_type="type-VF", numa_policy="legacy")]
    )
    assert parsed["nic"].numa_policy is NumaPolicy.LEGACY


@pytest.mark.parametrize(("first", "second"), [("required", "legacy"), ("socket", None)])
def test_repeats_with_different_numa_policies_are_rejected(first: str, second: str | None) -> None:
    policy = {} if second is None else {"numa_policy": second}
    message = reject(
        alias(device_type="type-VF", numa_policy=first), alias(device_type="type-VF", **policy)
    )
    assert "NUMA policy mismatch for alias 'nic'" in message


def test_repeats_with_different_device_types_are_rejected() -> None:
    message = reject(alias(device_type="type-PF"), alias(device_type="type-PCI"))
    assert "Device type mismatch for alias 'nic'" in message


@pytest.mark.parametrize(
    ("first", "second"),
    [(None, None), ("type-VF", None), (None, "type-VF")],
)
def test_repeats_without_device_type_are_rejected(first: str | None, second: str | None) -> None:
    raws = [alias() if t is None else alias(device_type=t) for t in (first, second)]
    message = reject(*raws)
    assert "nic" in message
    assert "device_type" in message


def test_numa_mismatch_is_reported_before_device_type() -> None:
    message = reject(alias(numa_policy="required"), alias(numa_policy="socket"))
    assert "NUMA policy mismatch" in message


# --- other keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["foo", "devname", "address", "physical_network", "dev_type"])
def test_unknown_keys_are_rejected(key: str) -> None:
    message = reject(alias(**{key: "bar"}))
    assert key in message


@pytest.mark.parametrize(
    ("value", "normalised"),
    [("true", "true"), ("TrUe", "true"), ("yes", "true"), ("1", "true"), ("off", "false")],
)
def test_live_migratable_is_a_strict_bool(value: str, normalised: str) -> None:
    spec = parse_aliases([alias(live_migratable=value)])["nic"].specs[0]
    assert spec["live_migratable"] == normalised


@pytest.mark.parametrize("value", ["invalid", "", "2"])
def test_bad_live_migratable_is_rejected(value: str) -> None:
    message = reject(alias(live_migratable=value))
    assert "live_migratable" in message
    assert f"'{value}'" in message


def test_capability_type_must_be_pci() -> None:
    assert parse_aliases([alias(capability_type="pci")])["nic"].specs[0]["capability_type"] == "pci"
    assert "capability_type" in reject(alias(capability_type="usb"))


def test_resource_class_and_traits_are_kept() -> None:
    spec = parse_aliases([alias(resource_class="CUSTOM_NIC", traits="CUSTOM_A,CUSTOM_B")])
    assert spec["nic"].specs[0]["resource_class"] == "CUSTOM_NIC"
    assert spec["nic"].specs[0]["traits"] == "CUSTOM_A,CUSTOM_B"


@pytest.mark.parametrize("key", ["resource_class", "traits"])
def test_resource_class_and_traits_must_be_strings(key: str) -> None:
    assert key in reject(alias(**{key: ["CUSTOM_A"]}))


@pytest.mark.parametrize(
    "key", ["numa_policy", "device_type", "live_migratable", "capability_type", "traits"]
)
def test_null_is_not_the_same_as_absent(key: str) -> None:
    message = reject(alias(**{key: None}))
    assert key in message
    assert "null" in message


# --- framing -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["{", "not json", "[]", '"nic"', "5", [alias()], 5])
def test_an_alias_must_be_one_json_object(value: object) -> None:
    reject(value)


def test_errors_name_the_entry_position() -> None:
    message = reject(alias(name="ok"), alias(name="bad", numa_policy="derp"))
    assert "alias entry 1" in message
    assert "derp" in message


def test_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        parse_aliases([alias(foo="bar")])
