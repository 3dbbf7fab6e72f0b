"""A NIC that obeys the kernel's rules, for lab hosts made by ``vfplane.lab``.

The VFs themselves are the sysfs tree under ``<root>/sys`` (``LabSysfs``); what
the PF holds for each VF (MAC, VLAN, spoof check, trust, link state, rates) lives
in ``<root>/simulated-nic/state.json``, so the "hardware" outlives agent processes.
Every operation holds an ``fcntl`` lock on ``state.lock`` next to it, and the state
is replaced atomically, so several processes may share one simulated host and a killed
agent never leaves half a file. It is not fsynced: a real NIC's VF settings do not
survive the host going down either, and a 256-VF host would pay two fsyncs per write.
The file has one VF per line, written by the C JSON encoder.
"""

from __future__ import annotations

import errno as errnos
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import ZERO_MAC, VfConfig
from vfplane.errors import NicError
from vfplane.host.nic import nic_errors, pf_device_dir, read_numvfs
from vfplane.lab.sysfs_tree import LabSysfs

STATE_DIR = "simulated-nic"
NEW_VF = VfConfig(mac=ZERO_MAC)
"""A VF as the kernel creates it: zero MAC, no VLAN, spoof check on, link auto."""

_KERNEL_ORDER: tuple[tuple[str, ...], ...] = (
    ("mac",),
    ("vlan", "qos"),
    ("min_tx_rate", "max_tx_rate"),
    ("spoofchk",),
    ("link_state",),
    ("trust",),
)
"""The order in which rtnetlink's do_setvfinfo applies VF attributes; it stops at an error."""


@dataclass(frozen=True)
class _Failure:
    errno: int
    field: str | None


class SimulatedNic:
    """A ``NicDriver`` over a lab sysfs tree under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lab = LabSysfs(root)
        self._dir = root / STATE_DIR
        self._failures: dict[str, _Failure] = {}

    def fail_next(self, pf_ifname: str, errno: int, *, field: str | None = None) -> None:
        """Test aid: make the next operation on this PF fail with ``errno``.

        The next ``read_vfs``, ``write_vf(s)`` or ``set_numvfs`` of the PF raises the
        mapped ``NicError``. With ``field`` (a ``VfConfig`` field name) a ``write_vf``
        first applies the fields the kernel sets before that one, as a real partial
        failure would (e.g. ``field="link_state"`` with ``errno.EOPNOTSUPP``).
        Injected failures live in this object only, not in the shared state.
        """
        known = {name for group in _KERNEL_ORDER for name in group}
        if field is not None and field not in known:
            raise ValueError(f"{field!r} is not a VF config field; use one of {sorted(known)}")
        self._failures[pf_ifname] = _Failure(errno, field)

    def read_vfs(self, pf_ifname: str) -> dict[int, VfConfig]:
        with nic_errors(f"read the VFs of {pf_ifname}"):
            self._take_failure(pf_ifname)
            pf = self._pf_of(pf_ifname)
            with self._state(write=False) as state:
                if not (pf_device_dir(self.root, pf) / "sriov_totalvfs").exists():
                    return {}
                count = read_numvfs(self.root, pf)
                return {index: _vf(state, pf, index) for index in range(count)}

    def write_vf(self, pf_ifname: str, vf_index: int, config: VfConfig) -> None:
        failures = self._write(pf_ifname, {vf_index: config}, f"set VF {vf_index} of {pf_ifname}")
        if vf_index in failures:
            raise failures[vf_index]

    def write_vfs(self, pf_ifname: str, configs: Mapping[int, VfConfig]) -> dict[int, NicError]:
        """Several VFs of one PF under one lock and one state write (``BatchWriter``).

        An injected failure hits the first VF, as it would the next ``write_vf``.
        """
        return self._write(pf_ifname, configs, f"set the VFs of {pf_ifname}")

    def _write(
        self, pf_ifname: str, configs: Mapping[int, VfConfig], action: str
    ) -> dict[int, NicError]:
        failures: dict[int, NicError] = {}
        with nic_errors(action):
            failure = self._failures.pop(pf_ifname, None)
            pf = self._pf_of(pf_ifname)
            with self._state(write=True) as state:
                count = self._vf_count(pf, pf_ifname)
                for index, config in configs.items():
                    try:
                        with nic_errors(f"set VF {index} of {pf_ifname}"):
                            _write_vf(state, pf, pf_ifname, count, index, config, failure)
                    except NicError as exc:
                        failures[index] = exc
                    failure = None
        return failures

    def numvfs(self, pf_address: PciAddress) -> int:
        return read_numvfs(self.root, pf_address)

    def set_numvfs(self, pf_address: PciAddress, count: int, *, vfio_vfs: int = 0) -> None:
        """Create or remove VFs as the kernel does; ``vfio_vfs`` (lab only) of them on vfio."""
        with nic_errors(f"set sriov_numvfs of {pf_address} to {count}"):
            pf_dir = pf_device_dir(self.root, pf_address)
            if not pf_dir.is_dir():
                raise OSError(errnos.ENODEV, f"no PCI device {pf_address}")
            self._take_failure(_first_netdev(pf_dir))
            with self._state(write=True) as state:
                if not _numvfs_changes(pf_dir, count, read_numvfs(self.root, pf_address)):
                    return
                state["pfs"].pop(str(pf_address), None)
                self._lab.set_numvfs(pf_address, count, vfio_vfs=min(vfio_vfs, count))

    def _take_failure(self, pf_ifname: str | None) -> None:
        failure = self._failures.pop(pf_ifname, None) if pf_ifname else None
        if failure is not None:
            raise OSError(failure.errno, os.strerror(failure.errno))

    def _pf_of(self, pf_ifname: str) -> PciAddress:
        device = self.root / "sys" / "class" / "net" / pf_ifname / "device"
        if "/" in pf_ifname or pf_ifname in {"", ".", ".."} or not device.is_symlink():
            raise OSError(errnos.ENODEV, f"no network interface named {pf_ifname!r}")
        return PciAddress.parse(device.readlink().name)

    def _vf_count(self, pf: PciAddress, pf_ifname: str) -> int:
        if not (pf_device_dir(self.root, pf) / "sriov_totalvfs").exists():
            raise OSError(errnos.EOPNOTSUPP, f"{pf_ifname} is not an SR-IOV PF")
        return read_numvfs(self.root, pf)

    @contextmanager
    def _state(self, *, write: bool) -> Iterator[dict[str, Any]]:
        """The shared state under the file lock; written back atomically when ``write``."""
        self._dir.mkdir(parents=True, exist_ok=True)
        with (self._dir / "state.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
            try:
                state = self._load()
                yield state
                if write:
                    self._store(state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        path = self._dir / "state.json"
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return {"pfs": {}}
        except (OSError, ValueError) as exc:
            raise NicError(f"the simulated NIC state {path} is unreadable: {exc}") from exc
        if not isinstance(state, dict) or not isinstance(state.get("pfs"), dict):
            raise NicError(f"the simulated NIC state {path} has no 'pfs' object")
        return state

    def _store(self, state: dict[str, Any]) -> None:
        path = self._dir / "state.json"
        temp = path.with_name(f".state.{os.getpid()}.tmp")
        temp.write_text(_render(state))
        temp.replace(path)


def _render(state: dict[str, Any]) -> str:
    """``state`` as JSON with one VF per line (by index): readable, and fast to write."""
    items = [(key, json.dumps(value, sort_keys=True)) for key, value in sorted(state.items())
             if key != "pfs"]  # fmt: skip
    pfs = []
    for pf, vfs in sorted(state["pfs"].items()):
        lines = [f"{json.dumps(i)}: {json.dumps(vfs[i], sort_keys=True)}"
                 for i in sorted(vfs, key=lambda i: (len(i), i))]  # fmt: skip
        pfs.append((pf, _block(lines, "   ", "  ")))
    items.append(("pfs", _block([f"{json.dumps(k)}: {v}" for k, v in pfs], "  ", " ")))
    return _block([f"{json.dumps(k)}: {v}" for k, v in items], " ", "") + "\n"


def _block(members: list[str], indent: str, closing: str) -> str:
    if not members:
        return "{}"
    return "{\n" + ",\n".join(indent + m for m in members) + f"\n{closing}}}"


def _vf(state: dict[str, Any], pf: PciAddress, index: int) -> VfConfig:
    data = state["pfs"].get(str(pf), {}).get(str(index))
    if data is None:
        return NEW_VF
    try:
        return VfConfig.from_dict(data)
    except ValueError as exc:
        raise NicError(f"the simulated NIC state of {pf} VF {index} is invalid: {exc}") from exc


def _write_vf(
    state: dict[str, Any], pf: PciAddress, pf_ifname: str, count: int, index: int,
    config: VfConfig, failure: _Failure | None,
) -> None:  # fmt: skip
    if failure is not None and failure.field is None:
        raise OSError(failure.errno, os.strerror(failure.errno))
    if not 0 <= index < count:
        raise OSError(errnos.ERANGE, f"{pf_ifname} has no VF {index} (it has {count} VFs)")
    _set_vf(state, pf, index, _applied(_vf(state, pf, index), config, failure))
    if failure is not None:
        raise OSError(failure.errno, f"{os.strerror(failure.errno)} ({failure.field})")


def _set_vf(state: dict[str, Any], pf: PciAddress, index: int, config: VfConfig) -> None:
    state["pfs"].setdefault(str(pf), {})[str(index)] = config.as_dict()


def _applied(current: VfConfig, config: VfConfig, failure: _Failure | None) -> VfConfig:
    """``config`` as far as the kernel gets before the injected failure's field."""
    if failure is None:
        return config
    changes: dict[str, Any] = {}
    for group in _KERNEL_ORDER:
        if failure.field in group:
            break
        changes.update({name: getattr(config, name) for name in group})
    return replace(current, **changes)


def _numvfs_changes(pf_dir: Path, count: int, current: int) -> bool:
    """The kernel's checks, in sriov_numvfs_store's order (drivers/pci/iov.c)."""
    if count < 0:
        raise OSError(errnos.EINVAL, f"{count} is not a VF count")
    total = int((pf_dir / "sriov_totalvfs").read_text())
    if count > total:
        raise OSError(errnos.ERANGE, f"{count} VFs asked, {pf_dir.name} supports {total}")
    if count == current:
        return False
    if not (pf_dir / "driver").is_symlink():
        raise OSError(errnos.ENOENT, f"no driver bound to {pf_dir.name}; cannot configure SR-IOV")
    if current != 0 and count != 0:
        raise OSError(errnos.EBUSY, f"{pf_dir.name} already has {current} VFs; write 0 first")
    return True


def _first_netdev(device_dir: Path) -> str | None:
    net = device_dir / "net"
    names = sorted(p.name for p in net.iterdir()) if net.is_dir() else []
    return names[0] if names else None
