"""``[pci] device_spec`` parsing and matching with Nova's semantics.

Nova's outcomes are kept: the first matching entry wins and gives its tags, a
fully specified PF address also matches that PF's VFs, an unresolvable devname
matches nothing. Where Nova is silent vfplane says more: unknown keys and
unresolvable devnames become warnings, and every non-match has a reason.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vfplane.domain.pci import PciAddress
from vfplane.domain.pci_address_spec import (
    ANY,
    AddressSpec,
    GlobAddressSpec,
    RegexAddressSpec,
    parse_hex_field,
)
from vfplane.errors import InvalidDeviceSpec

BOOLEAN_TAGS = ("trusted", "remote_managed", "managed", "live_migratable", "one_time_use")
KNOWN_TAGS = ("physical_network", *BOOLEAN_TAGS, "resource_class", "traits")
RESERVED_KEYS = ("vendor_id", "product_id", "address", "devname")
_TRUE_WORDS = frozenset({"1", "t", "true", "on", "y", "yes"})
_FALSE_WORDS = frozenset({"0", "f", "false", "off", "n", "no"})


class PciFacts(Protocol):
    """What device_spec needs to know about the host's PCI devices (sysfs on a real host)."""

    def sriov_totalvfs(self, address: PciAddress) -> int | None: ...

    def pci_ids(self, address: PciAddress) -> tuple[str, str] | None: ...

    def sriov_vf_device(self, address: PciAddress) -> str | None: ...

    def netdev_address(self, ifname: str) -> PciAddress | None: ...


class SpecSubject(Protocol):
    """The device keys device_spec matches on (a PciDevice is one)."""

    @property
    def address(self) -> PciAddress: ...

    @property
    def vendor_id(self) -> str: ...

    @property
    def product_id(self) -> str: ...

    @property
    def parent_addr(self) -> PciAddress | None: ...

    @property
    def card_serial_number(self) -> str | None: ...


def parse_strict_bool(name: str, value: object) -> bool:
    """oslo's ``bool_from_string(strict=True)``, with Nova's message."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    acceptable = ", ".join(f"'{w}'" for w in sorted(_TRUE_WORDS | _FALSE_WORDS))
    raise InvalidDeviceSpec(
        f"Cannot parse tag '{name}': Unrecognized value '{value}', "
        f"acceptable values are: {acceptable}"
    )


@dataclass(frozen=True)
class Verdict:
    """Whether one entry matches one device, and why not."""

    matched: bool
    reason: str = ""


@dataclass(frozen=True)
class DeviceSpec:
    """One device_spec entry."""

    index: int
    vendor_id: str = ANY
    product_id: str = ANY
    address: AddressSpec | None = None
    devname: str | None = None
    pf_address: PciAddress | None = None
    tags: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def remote_managed(self) -> bool:
        return self.tags.get("remote_managed") == "true"

    def describe(self) -> str:
        where = f"devname {self.devname}" if self.devname else f"address {self.address}"
        return f"entry {self.index} (vendor {self.vendor_id}, product {self.product_id}, {where})"

    def judge(self, device: SpecSubject, facts: PciFacts) -> Verdict:
        """Nova's ``PciDeviceSpec.match``, with the reason for a non-match."""
        if self.vendor_id not in (ANY, device.vendor_id.lower()):
            return Verdict(False, f"vendor_id {device.vendor_id} is not {self.vendor_id}")
        if self.product_id not in (ANY, device.product_id.lower()):
            return Verdict(False, f"product_id {device.product_id} is not {self.product_id}")
        address_verdict = self._judge_address(device, facts)
        if not address_verdict.matched:
            return address_verdict
        if self.remote_managed and not device.card_serial_number:
            return Verdict(False, "remote_managed needs a card serial number (VPD); none known")
        return Verdict(True)

    def _judge_address(self, device: SpecSubject, facts: PciFacts) -> Verdict:
        address, pf_address = self.address, self.pf_address
        if self.devname is not None:
            resolved = facts.netdev_address(self.devname)
            if resolved is None:
                return Verdict(False, f"devname {self.devname} resolves to no PCI device")
            address = GlobAddressSpec.parse(str(resolved))
            pf_address = resolved if (facts.sriov_totalvfs(resolved) or 0) > 0 else None
        assert address is not None
        if pf_address is not None and device.parent_addr == pf_address:
            return Verdict(True)
        if address.matches(device.address):
            return Verdict(True)
        return Verdict(False, f"address {device.address} does not match {address}")


@dataclass(frozen=True)
class SpecMatch:
    spec: DeviceSpec

    @property
    def tags(self) -> Mapping[str, str | None]:
        return self.spec.tags


@dataclass(frozen=True)
class DeviceSpecList:
    """The whole ``[pci] device_spec``: ordered entries; the first match wins."""

    entries: tuple[DeviceSpec, ...] = ()
    warnings: tuple[str, ...] = ()

    def match(self, device: SpecSubject, facts: PciFacts) -> SpecMatch | None:
        for spec in self.entries:
            if spec.judge(device, facts).matched:
                return SpecMatch(spec)
        return None

    def explain(self, device: SpecSubject, facts: PciFacts) -> list[tuple[DeviceSpec, Verdict]]:
        return [(spec, spec.judge(device, facts)) for spec in self.entries]


def parse_device_spec(values: Iterable[object], facts: PciFacts) -> DeviceSpecList:
    """Parse the option's values: JSON strings, or objects/lists already decoded (TOML)."""
    entries: list[DeviceSpec] = []
    warnings: list[str] = []
    for value in values:
        for raw in _entries_of(value):
            entries.append(_parse_entry(len(entries), raw, facts, warnings))
    return DeviceSpecList(tuple(entries), tuple(warnings))


INVALID = "device_spec: Invalid entry:"  # Nova's words, and the option they are about


def _entries_of(value: object) -> list[Mapping[str, object]]:
    decoded = value
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidDeviceSpec(f"{INVALID} '{value}' is not JSON ({exc.msg})") from exc
    if isinstance(decoded, Mapping):
        return [decoded]
    if isinstance(decoded, Sequence) and not isinstance(decoded, str):
        for item in decoded:
            if not isinstance(item, Mapping):
                raise InvalidDeviceSpec(f"{INVALID} '{value}': Expecting dict, got {item!r}")
        return list(decoded)
    raise InvalidDeviceSpec(f"{INVALID} '{value}': Expecting list or dict")


def _parse_entry(
    index: int, raw: Mapping[str, object], facts: PciFacts, warnings: list[str]
) -> DeviceSpec:
    try:
        return _build_entry(index, raw, facts, warnings)
    except InvalidDeviceSpec as exc:
        raise InvalidDeviceSpec(f"device_spec entry {index} {_compact(raw)}: {exc}") from exc


def _build_entry(
    index: int, raw: Mapping[str, object], facts: PciFacts, warnings: list[str]
) -> DeviceSpec:
    entry_warnings: list[str] = []
    vendor_id = _parse_id(raw, "vendor_id")
    product_id = _parse_id(raw, "product_id")
    devname = raw.get("devname") or None
    address_value = raw.get("address") or None
    if devname is not None and address_value is not None:
        raise InvalidDeviceSpec("devname and address cannot both be given; use one of them")
    if devname is not None and not isinstance(devname, str):
        raise InvalidDeviceSpec(f"devname must be a network interface name, got {devname!r}")
    address = None if devname else _parse_address(address_value, entry_warnings)
    tags = _parse_tags(raw, entry_warnings)
    spec = DeviceSpec(index, vendor_id, product_id, address, devname, None, tags)
    if address is not None:
        single = address.single_address()
        if single is not None and (facts.sriov_totalvfs(single) or 0) > 0:
            spec = DeviceSpec(index, vendor_id, product_id, address, None, single, tags)
    if devname is not None and facts.netdev_address(devname) is None:
        if spec.remote_managed:
            raise InvalidDeviceSpec(
                f"remote_managed needs devname {devname} to name a PCI network device, "
                "and the host has none by that name"
            )
        entry_warnings.append(
            f"devname {devname} resolves to no PCI device now; the entry matches nothing "
            "until it does"
        )
    if spec.remote_managed:
        _check_remote_managed_pf(spec, _physical_function_of(spec, facts), facts)
    warnings.extend(f"device_spec entry {index}: {w}" for w in entry_warnings)
    return spec


def _parse_id(raw: Mapping[str, object], key: str) -> str:
    value = raw.get(key, ANY)
    if not isinstance(value, str):
        raise InvalidDeviceSpec(f'{key} must be a string such as "8086", got {value!r}')
    value = value.strip()
    if value == ANY:
        return ANY
    try:
        return parse_hex_field(key, value, 0xFFFF, 4)
    except InvalidDeviceSpec as exc:
        raise InvalidDeviceSpec(f"invalid {key} '{value}': {exc}") from exc


def _parse_address(value: object, warnings: list[str]) -> AddressSpec:
    if value is None:
        return GlobAddressSpec()
    if isinstance(value, str):
        return GlobAddressSpec.parse(value)
    if isinstance(value, Mapping):
        return RegexAddressSpec.parse(value, warnings)
    raise InvalidDeviceSpec(
        f'address must be a string (glob form such as "0000:3b:*.*") or an object '
        f'(regex form such as {{"bus": "3[bc]"}}), got {value!r}'
    )


def _parse_tags(raw: Mapping[str, object], warnings: list[str]) -> dict[str, str | None]:
    tags: dict[str, str | None] = {}
    for key, value in raw.items():
        if key in RESERVED_KEYS:
            continue
        if key not in KNOWN_TAGS:
            hint = difflib.get_close_matches(key, (*KNOWN_TAGS, *RESERVED_KEYS), n=1)
            did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
            warnings.append(f"unknown key '{key}' is kept as a tag{did_you_mean}")
        tags[key] = _parse_tag_value(key, value)
    return tags


def _parse_tag_value(key: str, value: object) -> str | None:
    if key in BOOLEAN_TAGS:
        return "true" if parse_strict_bool(key, value) else "false"
    if key == "physical_network":
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise InvalidDeviceSpec(
                f"physical_network must be a physnet name or null (for overlay networks), "
                f"got {value!r}"
            )
        return value.strip() if isinstance(value, str) else None
    if value is None or isinstance(value, Mapping | list):
        raise InvalidDeviceSpec(f"tag '{key}' must be a string, number or boolean, got {value!r}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _physical_function_of(spec: DeviceSpec, facts: PciFacts) -> PciAddress | None:
    if spec.devname is None:
        return spec.pf_address
    resolved = facts.netdev_address(spec.devname)
    return resolved if resolved and (facts.sriov_totalvfs(resolved) or 0) > 0 else None


def _check_remote_managed_pf(spec: DeviceSpec, pf: PciAddress | None, facts: PciFacts) -> None:
    """Nova refuses remote_managed on a PF; a PF address with the VF product id is fine."""
    if pf is None:
        return
    vf_product = facts.sriov_vf_device(pf)
    pf_vendor, pf_product = facts.pci_ids(pf) or ("", "")
    if spec.product_id == vf_product and spec.vendor_id in (pf_vendor, ANY):
        return
    if spec.product_id in (pf_product, ANY) and spec.vendor_id in (pf_vendor, ANY):
        raise InvalidDeviceSpec(
            f"remote_managed is for VFs only, and {pf} is a PF; set product_id to its "
            f"VF product id {vf_product} to select the PF's VFs"
        )
    raise InvalidDeviceSpec(
        f"the specified VF vendor ID {spec.vendor_id} and product ID {spec.product_id} "
        f"do not match the expected VF IDs based on the corresponding PF identified by "
        f"PCI address {pf}"
    )


def _compact(raw: Mapping[str, object]) -> str:
    try:
        return json.dumps(raw, separators=(",", ":"), sort_keys=False)
    except (TypeError, ValueError):
        return repr(raw)


@dataclass(frozen=True)
class MatchSubject:
    """A device described with Nova's keys (for ``vfplane device-spec match``)."""

    address: PciAddress
    vendor_id: str
    product_id: str
    parent_addr: PciAddress | None = None
    card_serial_number: str | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> MatchSubject:
        allowed = {"address", "vendor_id", "product_id", "parent_addr", "capabilities"}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise InvalidDeviceSpec(
                f"device key(s) {', '.join(unknown)} unknown; use {', '.join(sorted(allowed))}"
            )
        for key in ("address", "vendor_id", "product_id"):
            if not isinstance(raw.get(key), str):
                raise InvalidDeviceSpec(f"device {key} must be given as a string")
        parent = raw.get("parent_addr")
        if parent is not None and not isinstance(parent, str):
            raise InvalidDeviceSpec("device parent_addr must be a string or null")
        return cls(
            address=PciAddress.parse(str(raw["address"])),
            vendor_id=_parse_id(raw, "vendor_id"),
            product_id=_parse_id(raw, "product_id"),
            parent_addr=PciAddress.parse(parent) if parent else None,
            card_serial_number=_card_serial_number(raw.get("capabilities")),
        )


def _card_serial_number(capabilities: object) -> str | None:
    if not isinstance(capabilities, Mapping):
        return None
    vpd = capabilities.get("vpd")
    serial = vpd.get("card_serial_number") if isinstance(vpd, Mapping) else None
    return serial if isinstance(serial, str) and serial else None
