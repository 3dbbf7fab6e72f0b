"""The address part of a device_spec entry: Nova's glob and regex forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from vfplane.domain.pci import PciAddress
from vfplane.errors import InvalidDeviceSpec, InvalidPciAddress

ANY = "*"
REGEX_ANY = ".*"
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_REGEX_KEYS = ("domain", "bus", "slot", "function")


def parse_hex_field(name: str, value: str, maximum: int, width: int) -> str:
    """Normalise one hex field as Nova does, with Nova's error messages."""
    digits = value[2:] if value[:2].lower() == "0x" else value
    if not digits or not set(digits) <= _HEX_DIGITS:
        raise InvalidDeviceSpec(f"property {name} ('{value}') does not parse as a hex number.")
    number = int(digits, 16)
    if number > maximum:
        raise InvalidDeviceSpec(
            f"property {name} ({value}) is greater than the maximum allowable value ({maximum:X})."
        )
    return f"{number:0{width}x}"


@dataclass(frozen=True, slots=True)
class GlobAddressSpec:
    """``[[[[domain]:]bus]:][slot][.[function]]`` where a missing field or ``*`` is any."""

    domain: str = ANY
    bus: str = ANY
    slot: str = ANY
    function: str = ANY

    @classmethod
    def parse(cls, text: str) -> GlobAddressSpec:
        dbs, _, function = text.partition(".")
        fields = dbs.split(":") if dbs else []
        if len(fields) > 3:
            raise InvalidDeviceSpec(
                f"address '{text}' has more than three ':' separated fields; "
                "expected [[[[domain]:]bus]:][slot][.[function]]"
            )
        padded = [ANY] * (3 - len(fields)) + [f.strip() or ANY for f in fields]
        parsed = {"domain": padded[0], "bus": padded[1], "slot": padded[2]}
        parsed["function"] = function.strip() or ANY
        limits = {"domain": (0xFFFF, 4), "bus": (0xFF, 2), "slot": (0x1F, 2), "function": (7, 1)}
        # As in Nova: the function is checked first and its messages call it "func".
        for name in ("function", "domain", "bus", "slot"):
            if parsed[name] != ANY:
                maximum, width = limits[name]
                label = "func" if name == "function" else name
                parsed[name] = parse_hex_field(label, parsed[name], maximum, width)
        return cls(**parsed)

    def matches(self, address: PciAddress) -> bool:
        wanted = (self.domain, self.bus, self.slot, self.function)
        return all(w in (ANY, actual) for w, actual in zip(wanted, address.fields, strict=True))

    def single_address(self) -> PciAddress | None:
        if ANY in (self.domain, self.bus, self.slot, self.function):
            return None
        return PciAddress.parse(str(self))

    def __str__(self) -> str:
        return f"{self.domain}:{self.bus}:{self.slot}.{self.function}"


@dataclass(frozen=True, slots=True)
class RegexAddressSpec:
    """``{"domain": re, "bus": re, "slot": re, "function": re}``, each anchored at the start."""

    domain: str = REGEX_ANY
    bus: str = REGEX_ANY
    slot: str = REGEX_ANY
    function: str = REGEX_ANY

    @classmethod
    def parse(cls, value: Mapping[str, object], warnings: list[str]) -> RegexAddressSpec:
        parts: dict[str, str] = {}
        for key, pattern in value.items():
            if key not in _REGEX_KEYS:
                warnings.append(
                    f"address key '{key}' is not one of {', '.join(_REGEX_KEYS)}; it is ignored"
                )
                continue
            if not isinstance(pattern, str):
                raise InvalidDeviceSpec(
                    f"address {key} must be a regular expression string, got {pattern!r}"
                )
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InvalidDeviceSpec(
                    f"address {key} '{pattern}' is not a valid regular expression: {exc}"
                ) from exc
            parts[key] = pattern
        return cls(**parts)

    def matches(self, address: PciAddress) -> bool:
        patterns = (self.domain, self.bus, self.slot, self.function)
        return all(
            re.match(pattern, actual) is not None
            for pattern, actual in zip(patterns, address.fields, strict=True)
        )

    def single_address(self) -> PciAddress | None:
        raw = f"{self.domain}:{self.bus}:{self.slot}.{self.function}"
        try:
            address = PciAddress.parse(raw)
        except InvalidPciAddress:
            return None
        # Nova looks the PF up in sysfs by these exact strings; only the canonical form exists.
        return address if str(address) == raw else None

    def __str__(self) -> str:
        parts = ", ".join(f"{k}={getattr(self, k)!r}" for k in _REGEX_KEYS)
        return f"regex({parts})"


AddressSpec = GlobAddressSpec | RegexAddressSpec
