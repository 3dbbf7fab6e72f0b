"""The NIC port of the agent: read and write VF configs, create and remove VFs.

``NicDriver`` is what the agent calls; ``NetlinkNic`` talks to the kernel and
``SimulatedNic`` plays a NIC for lab hosts and tests. Both raise only ``NicError``
subclasses, translated from errno by ``nic_errors``.
"""

from __future__ import annotations

import errno as errnos
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import VfConfig
from vfplane.errors import (
    DeviceBusy,
    DeviceNotFound,
    NicError,
    NotSupported,
    OutOfRange,
    PermissionDenied,
)

_BY_ERRNO: dict[int, type[NicError]] = {
    errnos.ENODEV: DeviceNotFound,
    errnos.ENOENT: DeviceNotFound,
    errnos.ENXIO: DeviceNotFound,
    errnos.EBUSY: DeviceBusy,
    errnos.ERANGE: OutOfRange,
    errnos.EOPNOTSUPP: NotSupported,
    errnos.ENOTSUP: NotSupported,
    errnos.EINVAL: NotSupported,
    errnos.EPERM: PermissionDenied,
    errnos.EACCES: PermissionDenied,
}


class NicDriver(Protocol):
    """Reads and writes the VFs of PFs, and sets how many VFs a PF has."""

    def read_vfs(self, pf_ifname: str) -> dict[int, VfConfig]:
        """Every VF of the PF by index; empty for a netdev without VFs."""
        ...

    def write_vf(self, pf_ifname: str, vf_index: int, config: VfConfig) -> None:
        """Make every field of the VF equal ``config``; the two rates are set together."""
        ...

    def numvfs(self, pf_address: PciAddress) -> int:
        """The PF's ``sriov_numvfs``."""
        ...

    def set_numvfs(self, pf_address: PciAddress, count: int) -> None:
        """Write ``sriov_numvfs`` with the kernel's rules (write 0 before a new count)."""
        ...


@runtime_checkable
class BatchWriter(Protocol):
    """A NIC that writes several VFs of a PF in one go (both of ours do)."""

    def write_vfs(self, pf_ifname: str, configs: Mapping[int, VfConfig]) -> dict[int, NicError]:
        """Make each VF equal its config, in the order given, as ``write_vf`` would.

        Returns the error of each VF that could not be written; the others are. Raises
        ``NicError`` when the PF itself cannot be used, and then none was written.
        """
        ...


def write_vfs(
    nic: NicDriver, pf_ifname: str, configs: Mapping[int, VfConfig]
) -> dict[int, NicError]:
    """``BatchWriter.write_vfs`` where the driver has it, else ``write_vf`` one by one."""
    if isinstance(nic, BatchWriter):
        return nic.write_vfs(pf_ifname, configs)
    failures: dict[int, NicError] = {}
    for index, config in configs.items():
        try:
            nic.write_vf(pf_ifname, index, config)
        except NicError as exc:
            failures[index] = exc
    return failures


def errno_of(exc: BaseException) -> int | None:
    """The errno of an OSError, or of an exception with an integer ``code`` (NetlinkError)."""
    if isinstance(exc, OSError):
        return exc.errno
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def nic_error(action: str, exc: BaseException) -> NicError:
    """The ``NicError`` subclass for ``exc``'s errno, with a message naming ``action``."""
    number = errno_of(exc)
    if number is None:
        return NicError(f"cannot {action}: {exc}")
    name = "EOPNOTSUPP" if number == errnos.EOPNOTSUPP else errnos.errorcode.get(number, "?")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else os.strerror(number)
    cls = _BY_ERRNO.get(number, NicError)
    return cls(f"cannot {action}: {reason} [{name}]", errno=number)


@contextmanager
def nic_errors(action: str, *, also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Translate OSError (and the exception types in ``also``) into ``NicError``s.

    ``action`` completes "cannot …", e.g. ``"set VF 3 of ens1f0"``.
    """
    caught: tuple[type[BaseException], ...] = (OSError, *also)
    try:
        yield
    except caught as exc:
        raise nic_error(action, exc) from exc


def pf_device_dir(root: Path, pf_address: PciAddress) -> Path:
    return root / "sys" / "bus" / "pci" / "devices" / str(pf_address)


def read_numvfs(root: Path, pf_address: PciAddress) -> int:
    """``sriov_numvfs`` of a PF under ``root``; raises ``NicError``."""
    path = pf_device_dir(root, pf_address) / "sriov_numvfs"
    with nic_errors(f"read {path}"):
        text = path.read_text().strip()
    if not text.isdigit():
        raise NicError(f"cannot read {path}: {text!r} is not a number")
    return int(text)
