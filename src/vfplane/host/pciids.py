"""Vendor and device names from the system's pci.ids database (Debian's pci.ids package)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DEFAULT_LOCATIONS = (Path("/usr/share/misc/pci.ids"), Path("/usr/share/hwdata/pci.ids"))


class PciIds:
    """Names by vendor and device id; empty when no database is installed."""

    def __init__(
        self,
        vendors: dict[str, str] | None = None,
        devices: dict[tuple[str, str], str] | None = None,
        source: Path | None = None,
    ) -> None:
        self._vendors = vendors or {}
        self._devices = devices or {}
        self.source = source

    @classmethod
    def load(cls, locations: Iterable[Path] = DEFAULT_LOCATIONS) -> PciIds:
        for path in locations:
            if path.is_file():
                return cls.parse(path)
        return cls()

    @classmethod
    def parse(cls, path: Path) -> PciIds:
        """Read the vendor and device lines; subsystems and the class section are skipped."""
        vendors: dict[str, str] = {}
        devices: dict[tuple[str, str], str] = {}
        vendor = ""
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("C "):
                    break  # the device class section follows the vendors
                if not line.strip() or line.startswith(("#", "\t\t")):
                    continue
                ident, _, name = line.strip().partition(" ")
                if line.startswith("\t"):
                    devices[(vendor, ident.lower())] = name.strip()
                else:
                    vendor = ident.lower()
                    vendors[vendor] = name.strip()
        return cls(vendors, devices, path)

    def vendor_name(self, vendor_id: str) -> str | None:
        return self._vendors.get(vendor_id.lower())

    def device_name(self, vendor_id: str, product_id: str) -> str | None:
        return self._devices.get((vendor_id.lower(), product_id.lower()))
