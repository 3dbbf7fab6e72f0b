"""The hypervisor adapter: define, start, stop, hot-plug and read libvirt domains.

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
libvirt's error number. A hot-plug the driver cannot do (``VIR_ERR_NO_SUPPORT``,
as on the test driver, or ``VIR_ERR_OPERATION_UNSUPPORTED``, as qemu says for
devices it cannot plug live) is :class:`~vfplane.errors.HotplugUnsupported`.
"""

from __future__ import annotations

import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType, TracebackType
from typing import Any, Protocol, runtime_checkable

from vfplane.errors import (
    DomainExists,
    DomainNotFound,
    DomainXmlRejected,
    HotplugUnsupported,
    HypervisorError,
    HypervisorUnavailable,
)

LOG = logging.getLogger(__name__)
SHUTDOWN_POLL = 0.2  # seconds between looks at a guest that was asked to shut down

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

    def shutdown(self, name: str, timeout: float) -> bool:
        """Ask the guest to power off (ACPI), wait up to ``timeout`` seconds, then destroy it.

        The definition stays. True when the guest stopped by itself (or did not
        run, or does not exist), False when it had to be destroyed.
        """
        ...

    def destroy(self, name: str) -> None:
        """Power the domain off at once; the definition stays. Nothing if it does not run."""
        ...

    def attach_device(self, name: str, xml: str) -> None:
        """Plug one device element into the running domain and its persistent definition.

        HotplugUnsupported when the hypervisor cannot, DomainNotFound without the domain.
        """
        ...

    def detach_device(self, name: str, xml: str) -> None:
        """Unplug the device ``xml`` names (its MAC, or its PCI source) from the running
        domain and its definition. HotplugUnsupported when the hypervisor cannot."""
        ...

    def set_metadata(self, name: str, uri: str, key: str, xml: str) -> None:
        """Replace the domain's metadata element in namespace ``uri`` (live and persistent).

        As ``virDomainSetMetadata(VIR_DOMAIN_METADATA_ELEMENT)``: ``xml`` is the
        element without a namespace; it and its children are put into ``uri``
        with the prefix ``key``.
        """
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

    def shutdown(self, name: str, timeout: float) -> bool:
        with self._call(f"shut down domain {name!r}") as conn:
            domain = self._lookup(conn, name)
            if domain is None or not domain.isActive():
                return True
            asked = self._ask_shutdown(domain, name)
        deadline = time.monotonic() + timeout
        while asked and time.monotonic() < deadline:
            if not self.is_running(name):
                return True
            time.sleep(min(SHUTDOWN_POLL, max(0.0, deadline - time.monotonic())))
        if not self.is_running(name):
            return True
        self.destroy(name)
        return False

    def destroy(self, name: str) -> None:
        with self._call(f"destroy domain {name!r}") as conn:
            domain = self._lookup(conn, name)
            if domain is None:
                return
            try:
                if domain.isActive():
                    domain.destroy()
            except self._libvirt.libvirtError as exc:
                gone = (self._libvirt.VIR_ERR_NO_DOMAIN, self._libvirt.VIR_ERR_OPERATION_INVALID)
                if exc.get_error_code() not in gone:
                    raise  # stopped or gone meanwhile is what we wanted

    def attach_device(self, name: str, xml: str) -> None:
        self._change_device(name, xml, attach=True)

    def detach_device(self, name: str, xml: str) -> None:
        self._change_device(name, xml, attach=False)

    def set_metadata(self, name: str, uri: str, key: str, xml: str) -> None:
        libvirt = self._libvirt
        with self._call(f"set the metadata of domain {name!r}") as conn:
            domain = conn.lookupByName(name)
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if domain.isPersistent() else 0
            if domain.isActive():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, key, uri, flags)

    def _ask_shutdown(self, domain: Any, name: str) -> bool:
        """Send the ACPI power button; False when the guest cannot be asked (destroy it)."""
        try:
            domain.shutdown()
        except self._libvirt.libvirtError as exc:
            LOG.warning("cannot ask domain %s to shut down: %s", name, exc.get_error_message())
            return False
        return True

    def _change_device(self, name: str, xml: str, *, attach: bool) -> None:
        libvirt = self._libvirt
        action = "attach a device to" if attach else "detach a device from"
        with self._call(f"{action} domain {name!r}") as conn:
            domain = conn.lookupByName(name)
            flags = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
            change = domain.attachDeviceFlags if attach else domain.detachDeviceFlags
            try:
                change(xml, flags)
            except libvirt.libvirtError as exc:
                code = exc.get_error_code()
                if code in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
                    message = exc.get_error_message() or str(exc)
                    raise HotplugUnsupported(
                        f"{self.uri} cannot hot-plug: {message}", code=code
                    ) from None
                raise

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
