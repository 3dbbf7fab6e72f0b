"""A hand-written in-memory Hypervisor for tests: no libvirt, same contract.

Domains keep their definition when they stop. ``hotplug=False`` (the default)
behaves like libvirt's test driver, which cannot attach or detach devices;
``hotplug=True`` like qemu, editing the stored XML. ``acpi=False`` makes guests
ignore the power button, so ``shutdown`` has to destroy them. ``calls`` records
every lifecycle call as ``(operation, domain name)``, in order.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vfplane.errors import (
    DomainExists,
    DomainNotFound,
    DomainXmlRejected,
    HotplugUnsupported,
    HypervisorError,
)


@dataclass
class _Domain:
    uuid: str
    xml: str
    running: bool = False


class FakeHypervisor:
    """Keeps domains in a dict; see the module docstring for the knobs."""

    uri = "fake://"

    def __init__(self, *, hotplug: bool = False, acpi: bool = True) -> None:
        self._domains: dict[str, _Domain] = {}
        self._lock = threading.Lock()
        self.hotplug = hotplug
        self.acpi = acpi
        self.calls: list[tuple[str, str]] = []

    def define_and_start(self, xml: str) -> str:
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as exc:
            raise DomainXmlRejected(f"cannot define and start a domain: {exc}") from None
        name, uuid = root.findtext("name"), root.findtext("uuid") or ""
        if not name:
            raise DomainXmlRejected("cannot define and start a domain: missing name information")
        with self._lock:
            existing = self._domains.get(name)
            if existing is not None and existing.running:
                raise DomainExists(f"domain {name!r} is already running")
            if existing is not None and existing.uuid != uuid:
                raise DomainExists(f"domain {name!r} already exists with uuid {existing.uuid}")
            self._domains[name] = _Domain(uuid, xml, running=True)
            self.calls.append(("start", name))
            return xml

    def destroy_and_undefine(self, name: str) -> None:
        with self._lock:
            if self._domains.pop(name, None) is not None:
                self.calls.append(("undefine", name))

    def domain_xml(self, name: str) -> str | None:
        with self._lock:
            domain = self._domains.get(name)
            return None if domain is None else domain.xml

    def is_running(self, name: str) -> bool:
        with self._lock:
            domain = self._domains.get(name)
            return domain is not None and domain.running

    def list_domains(self) -> list[str]:
        with self._lock:
            return sorted(self._domains)

    def shutdown(self, name: str, timeout: float) -> bool:
        with self._lock:
            domain = self._domains.get(name)
            if domain is None or not domain.running:
                return True
            self.calls.append(("shutdown", name))
            if not self.acpi:
                self.calls.append(("destroy", name))  # after ``timeout`` seconds, in theory
            domain.running = False
            return self.acpi

    def destroy(self, name: str) -> None:
        with self._lock:
            domain = self._domains.get(name)
            if domain is not None and domain.running:
                self.calls.append(("destroy", name))
                domain.running = False

    def attach_device(self, name: str, xml: str) -> None:
        with self._lock:
            domain = self._live(name, "attach")
            root, device = ET.fromstring(domain.xml), ET.fromstring(xml)
            if _find_device(root, device) is not None:
                raise HypervisorError(f"domain {name!r} already has the device {_key(device)}")
            devices = root.find("devices")
            if devices is None:
                devices = ET.SubElement(root, "devices")
            devices.append(device)
            domain.xml = ET.tostring(root, encoding="unicode")
            self.calls.append(("attach", name))

    def detach_device(self, name: str, xml: str) -> None:
        with self._lock:
            domain = self._live(name, "detach")
            root, device = ET.fromstring(domain.xml), ET.fromstring(xml)
            found = _find_device(root, device)
            devices = root.find("devices")
            if found is None or devices is None:
                raise HypervisorError(f"domain {name!r} has no device {_key(device)}")
            devices.remove(found)
            domain.xml = ET.tostring(root, encoding="unicode")
            self.calls.append(("detach", name))

    def set_metadata(self, name: str, uri: str, key: str, xml: str) -> None:
        with self._lock:
            domain = self._domains.get(name)
            if domain is None:
                raise DomainNotFound(f"no domain {name!r}")
            root, element = ET.fromstring(domain.xml), ET.fromstring(xml)
            for node in element.iter():  # as libvirt: the element and its children in ``uri``
                node.tag = f"{{{uri}}}{node.tag.rpartition('}')[2]}"
            metadata = root.find("metadata")
            if metadata is None:
                metadata = ET.Element("metadata")
                root.insert(2, metadata)
            for old in [child for child in metadata if child.tag.startswith(f"{{{uri}}}")]:
                metadata.remove(old)
            metadata.append(element)
            domain.xml = ET.tostring(root, encoding="unicode")
            self.calls.append(("set_metadata", name))

    def _live(self, name: str, action: str) -> _Domain:
        domain = self._domains.get(name)
        if domain is None:
            raise DomainNotFound(f"no domain {name!r}")
        if not self.hotplug:
            raise HotplugUnsupported(f"{self.uri} cannot hot-plug: no {action} in this fake")
        if not domain.running:
            raise HypervisorError(f"cannot {action} a device: domain {name!r} is not running")
        return domain


def _key(device: ET.Element) -> str:
    """What libvirt matches a device by: an interface's MAC, a hostdev's PCI source."""
    mac = device.find("mac")
    if device.tag == "interface" and mac is not None:
        return f"mac {mac.get('address', '').lower()}"
    address = device.find("source/address")
    attributes = ("domain", "bus", "slot", "function")
    parts = [int(address.get(a, "0"), 0) for a in attributes] if address is not None else []
    return f"{device.tag} " + ":".join(str(part) for part in parts)


def _find_device(root: ET.Element, device: ET.Element) -> ET.Element | None:
    wanted = _key(device)
    return next((d for d in root.iterfind(f"devices/{device.tag}") if _key(d) == wanted), None)
