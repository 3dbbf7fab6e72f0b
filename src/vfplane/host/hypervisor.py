"""The hypervisor adapter: define, start, destroy and read libvirt domains.

``Hypervisor`` is the port the agent depends on; ``LibvirtHypervisor`` is the
libvirt-python adapter for ``qemu:///system`` on real hosts and
``test:///<path>/host.xml`` on simulated ones.

libvirt's test driver keeps its state in the *connection*, not in the node
file: every ``libvirt.open()`` of the same ``test:///…`` URI starts from the
file again and sees none of the domains defined through another connection.
``LibvirtHypervisor`` therefore opens one connection when it is built and
keeps it until :meth:`LibvirtHypervisor.close`; two instances on one test URI
are two separate simulated hosts. Calls are serialized by a lock, so one
instance may be shared by threads.

Every ``libvirt.libvirtError`` becomes a :class:`~vfplane.errors.HypervisorError`
(or a subclass) whose message includes libvirt's and whose ``code`` is
libvirt's error number.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType, TracebackType
from typing import Any, Protocol, runtime_checkable

from vfplane.errors import (
    DomainExists,
    DomainNotFound,
    DomainXmlRejected,
    HypervisorError,
    HypervisorUnavailable,
)

# libvirt error names (virErrorNumber) and the vfplane error each becomes.
_ERROR_CLASSES: dict[str, type[HypervisorError]] = {
    "VIR_ERR_NO_DOMAIN": DomainNotFound,
    "VIR_ERR_DOM_EXIST": DomainExists,
    "VIR_ERR_XML_ERROR": DomainXmlRejected,
    "VIR_ERR_XML_DETAIL": DomainXmlRejected,
    "VIR_ERR_XML_INVALID_SCHEMA": DomainXmlRejected,
    "VIR_ERR_NO_NAME": DomainXmlRejected,
    "VIR_ERR_CONFIG_UNSUPPORTED": DomainXmlRejected,
    "VIR_ERR_INVALID_CONN": HypervisorUnavailable,
    "VIR_ERR_NO_CONNECT": HypervisorUnavailable,
}


@runtime_checkable
class Hypervisor(Protocol):
    """What the agent needs from a hypervisor. Domains are named; names are unique."""

    def define_and_start(self, xml: str) -> str:
        """Define the domain persistently and start it; return its XML as libvirt dumps it.

        Raises DomainExists when a domain of that name is running already or
        has another uuid, DomainXmlRejected when the XML is refused. A domain
        that was defined here but failed to start is undefined again.
        """
        ...

    def destroy_and_undefine(self, name: str) -> None:
        """Stop the domain if it runs and remove its definition; nothing if it does not exist."""
        ...

    def domain_xml(self, name: str) -> str | None:
        """The domain's current XML, or None when there is no such domain."""
        ...

    def is_running(self, name: str) -> bool:
        """Whether the domain exists and runs."""
        ...

    def list_domains(self) -> list[str]:
        """The names of all domains, defined or running, sorted."""
        ...


class LibvirtHypervisor:
    """A :class:`Hypervisor` over one libvirt connection, kept open for the object's life."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._libvirt = _import_libvirt()
        self._lock = threading.RLock()
        _silence_libvirt_stderr(self._libvirt)
        try:
            self._conn: Any = self._libvirt.open(uri)
        except self._libvirt.libvirtError as exc:
            raise HypervisorUnavailable(
                f"cannot connect to {uri}: {exc.get_error_message() or exc}",
                code=exc.get_error_code(),
            ) from None
        if self._conn is None:  # pragma: no cover - old bindings return None
            raise HypervisorUnavailable(f"cannot connect to {uri}")

    def __enter__(self) -> LibvirtHypervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    def close(self) -> None:
        """Close the connection; on the test driver this forgets every domain. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with suppress(self._libvirt.libvirtError):
                    conn.close()

    def define_and_start(self, xml: str) -> str:
        with self._call("define and start a domain") as conn:
            name = _domain_name_of(xml)
            existing = self._lookup(conn, name) if name is not None else None
            if existing is not None and existing.isActive():
                raise DomainExists(f"domain {name!r} is already running on {self.uri}")
            domain = conn.defineXML(xml)
            try:
                domain.create()
            except self._libvirt.libvirtError:
                _roll_back_start(self._libvirt, domain, undefine=existing is None)
                raise
            return str(domain.XMLDesc(0))

    def destroy_and_undefine(self, name: str) -> None:
        with self._call(f"destroy and undefine domain {name!r}") as conn:
            domain = self._lookup(conn, name)
            if domain is None:
                return
            try:
                persistent = bool(domain.isPersistent())
                if domain.isActive():
                    domain.destroy()
                if persistent:
                    # Managed-save images and snapshot metadata would block undefine on qemu.
                    domain.undefineFlags(
                        self._libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                        | self._libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                    )
            except self._libvirt.libvirtError as exc:
                if exc.get_error_code() != self._libvirt.VIR_ERR_NO_DOMAIN:
                    raise  # gone meanwhile is what we wanted

    def domain_xml(self, name: str) -> str | None:
        with self._call(f"read the XML of domain {name!r}") as conn:
            domain = self._lookup(conn, name)
            return None if domain is None else str(domain.XMLDesc(0))

    def is_running(self, name: str) -> bool:
        with self._call(f"read the state of domain {name!r}") as conn:
            domain = self._lookup(conn, name)
            return domain is not None and bool(domain.isActive())

    def list_domains(self) -> list[str]:
        with self._call("list domains") as conn:
            return sorted(str(domain.name()) for domain in conn.listAllDomains(0))

    @contextmanager
    def _call(self, action: str) -> Iterator[Any]:
        """Hold the lock, yield the open connection, translate libvirt's errors."""
        with self._lock:
            if self._conn is None:
                raise HypervisorUnavailable(
                    f"cannot {action}: the connection to {self.uri} is closed"
                )
            try:
                yield self._conn
            except self._libvirt.libvirtError as exc:
                raise _translate(self._libvirt, exc, f"cannot {action} on {self.uri}") from None

    def _lookup(self, conn: Any, name: str) -> Any | None:
        try:
            return conn.lookupByName(name)
        except self._libvirt.libvirtError as exc:
            if exc.get_error_code() == self._libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise


def _import_libvirt() -> ModuleType:
    """Import libvirt-python on first use, so the Protocol works without it."""
    try:
        import libvirt
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise HypervisorUnavailable(f"libvirt-python is not installed: {exc}") from None
    module: ModuleType = libvirt
    return module


_silenced = threading.Lock()
_silenced_modules: set[int] = set()


def _silence_libvirt_stderr(libvirt: ModuleType) -> None:
    """Stop libvirt's default handler printing every error; we raise them instead.

    The handler is process-wide; it is installed once, by the first adapter.
    """
    with _silenced:
        if id(libvirt) in _silenced_modules:
            return
        libvirt.registerErrorHandler(_ignore_libvirt_error, None)
        _silenced_modules.add(id(libvirt))


def _ignore_libvirt_error(_context: object, _error: object) -> None:
    return None


def _translate(libvirt: ModuleType, exc: Any, context: str) -> HypervisorError:
    """The vfplane error for a libvirtError, with libvirt's message and code."""
    code = exc.get_error_code()
    message = exc.get_error_message() or str(exc)
    error_class = next(
        (cls for name, cls in _ERROR_CLASSES.items() if getattr(libvirt, name, None) == code),
        HypervisorError,
    )
    if code == libvirt.VIR_ERR_OPERATION_FAILED and "already exists" in message:
        error_class = DomainExists
    return error_class(f"{context}: {message}", code=code)


def _domain_name_of(xml: str) -> str | None:
    """The <name> of a domain document, or None to let libvirt say what is wrong."""
    try:
        return ET.fromstring(xml).findtext("name")
    except ET.ParseError:
        return None


def _roll_back_start(libvirt: ModuleType, domain: Any, *, undefine: bool) -> None:
    """Undo a failed start; the start's error is the one to report.

    libvirt 9's test driver can leave a domain active although ``create()``
    failed (it fails while copying the live definition), and such a domain
    only goes away after destroy, undefine, destroy; on qemu the second
    destroy finds nothing to do.
    """
    _destroy_quietly(libvirt, domain)
    if undefine:
        with suppress(libvirt.libvirtError):
            domain.undefine()
    _destroy_quietly(libvirt, domain)


def _destroy_quietly(libvirt: ModuleType, domain: Any) -> None:
    with suppress(libvirt.libvirtError):
        if domain.isActive():
            domain.destroy()
