"""``[pci] alias``: named kinds of PCI device a flavor can ask for (Nova's semantics)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from vfplane.domain.devspec import parse_strict_bool
from vfplane.domain.pci import DeviceType
from vfplane.errors import InvalidAlias, InvalidDeviceSpec

_ALIAS_KEYS = frozenset(
    {
        "name",
        "vendor_id",
        "product_id",
        "device_type",
        "numa_policy",
        "resource_class",
        "traits",
        "live_migratable",
        "capability_type",
    }
)
_HEX4 = frozenset("0123456789abcdefABCDEF")


class NumaPolicy(StrEnum):
    REQUIRED = "required"
    LEGACY = "legacy"
    PREFERRED = "preferred"
    SOCKET = "socket"


@dataclass(frozen=True)
class Alias:
    """An alias name, its NUMA policy, and its alternative request specs."""

    name: str
    numa_policy: NumaPolicy
    specs: tuple[Mapping[str, str], ...]

    @property
    def dev_type(self) -> str | None:
        return self.specs[0].get("dev_type")


def parse_aliases(values: Iterable[object]) -> dict[str, Alias]:
    """Parse the option's values (JSON strings or decoded objects); repeated names OR."""
    aliases: dict[str, Alias] = {}
    for position, value in enumerate(values):
        raw = _decode(value)
        try:
            name, policy, spec = _parse_one(raw)
        except InvalidAlias as exc:
            raise InvalidAlias(f"alias entry {position} {json.dumps(raw)}: {exc}") from exc
        known = aliases.get(name)
        if known is None:
            aliases[name] = Alias(name, policy, (spec,))
            continue
        _check_repeat(known, policy, spec)
        aliases[name] = Alias(name, policy, (*known.specs, spec))
    return aliases


def _decode(value: object) -> Mapping[str, object]:
    decoded = value
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidAlias(f"alias '{value}' is not JSON ({exc.msg})") from exc
    if not isinstance(decoded, Mapping):
        raise InvalidAlias(f"alias {value!r} must be a JSON object")
    return decoded


def _parse_one(raw: Mapping[str, object]) -> tuple[str, NumaPolicy, dict[str, str]]:
    unknown = sorted(set(raw) - _ALIAS_KEYS)
    if unknown:
        raise InvalidAlias(
            f"Additional properties are not allowed ({', '.join(map(repr, unknown))}); "
            f"allowed keys: {', '.join(sorted(_ALIAS_KEYS))}"
        )
    nulls = sorted(key for key, value in raw.items() if value is None)
    if nulls:
        # Nova's schema types every key as a string, so null is not "absent".
        raise InvalidAlias(f"{', '.join(nulls)} must be a string, got null")
    name = raw.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 256:
        raise InvalidAlias(f"name must be a string of 1 to 256 characters, got {name!r}")
    spec: dict[str, str] = {}
    for key in ("vendor_id", "product_id"):
        value = raw.get(key)
        if value is None:
            raise InvalidAlias(
                f"The PCI alias {name.strip()} does not have vendor_id and product_id fields set."
            )
        if not (isinstance(value, str) and len(value) == 4 and set(value) <= _HEX4):
            raise InvalidAlias(f'{key} {value!r} must be four hex digits such as "8086"')
        spec[key] = value.lower()
    device_type = raw.get("device_type")
    if device_type is not None:
        if not isinstance(device_type, str) or device_type not in {t.value for t in DeviceType}:
            choices = ", ".join(t.value for t in DeviceType)
            raise InvalidAlias(f"device_type {device_type!r} is not one of {choices}")
        spec["dev_type"] = str(device_type)
    _copy_optional(raw, spec)
    return name.strip(), _parse_policy(raw.get("numa_policy")), spec


def _copy_optional(raw: Mapping[str, object], spec: dict[str, str]) -> None:
    for key in ("resource_class", "traits"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise InvalidAlias(f"{key} must be a string, got {raw[key]!r}")
            spec[key] = str(raw[key])
    if raw.get("capability_type") is not None:
        if raw["capability_type"] != "pci":
            raise InvalidAlias(f"capability_type {raw['capability_type']!r} is not 'pci'")
        spec["capability_type"] = "pci"
    if raw.get("live_migratable") is not None:
        try:
            migratable = parse_strict_bool("live_migratable", raw["live_migratable"])
        except InvalidDeviceSpec as exc:
            raise InvalidAlias(str(exc)) from exc
        spec["live_migratable"] = "true" if migratable else "false"


def _parse_policy(value: object) -> NumaPolicy:
    if value is None:
        return NumaPolicy.LEGACY
    try:
        return NumaPolicy(str(value))
    except ValueError:
        choices = ", ".join(p.value for p in NumaPolicy)
        raise InvalidAlias(f"numa_policy {value!r} is not one of {choices}") from None


def _check_repeat(known: Alias, policy: NumaPolicy, spec: Mapping[str, str]) -> None:
    if known.numa_policy is not policy:
        raise InvalidAlias(
            f"NUMA policy mismatch for alias '{known.name}': "
            f"{known.numa_policy.value} and {policy.value}"
        )
    if known.dev_type is None or "dev_type" not in spec:
        raise InvalidAlias(
            f"alias '{known.name}' is defined more than once; every definition of a "
            "repeated alias must set device_type"
        )
    if known.dev_type != spec["dev_type"]:
        raise InvalidAlias(
            f"Device type mismatch for alias '{known.name}': {known.dev_type} and "
            f"{spec['dev_type']}"
        )
