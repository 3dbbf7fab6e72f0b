"""A hand-written in-memory Hypervisor for tests: no libvirt, same contract."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from vfplane.errors import DomainExists, DomainXmlRejected


@dataclass
class _Domain:
    uuid: str
    xml: str
    running: bool = False


class FakeHypervisor:
    """Keeps domains in a dict; every domain it defines runs until it is removed."""

    def __init__(self) -> None:
        self._domains: dict[str, _Domain] = {}
        self._lock = threading.Lock()

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
            return xml

    def destroy_and_undefine(self, name: str) -> None:
        with self._lock:
            self._domains.pop(name, None)

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
