"""The agent's record of each VF's original config, saved before the first change.

One JSON file per VF, named like libvirt's ``<stateDir>/<pf>_vf<N>`` records
(``ens1f0_vf3.json``), written atomically and fsynced with its directory, so that a
crash between saving and configuring never loses the original. The file holds the
VF's PCI address, which is the key: a PF renamed by an OS upgrade does not orphan it,
and the name is only a label. When that name already holds another VF's record (PF
names moved between PFs), the record goes to ``<pf>_vf<N>@<address>.json`` instead:
``save`` never replaces a file it does not know to hold the same VF. Any ``*.json``
in the directory is read, whatever its name (records of earlier versions included).

Which file holds which VF is remembered from the last ``load_all`` (the agent loads
once per pass) and kept up to date by ``save`` and ``forget``, so neither rereads the
directory: a pass over N VFs costs O(N) file operations, not O(N²). The directory is
the agent's own; a store that has not loaded yet reads it on first use. ``save`` and
``forget`` with ``sync=False`` leave the directory's fsync to one ``sync`` call for
a whole batch; ``durable`` says which records a directory sync has confirmed since
they were written (none, for a store that has not synced yet).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import SavedVf, VfConfig, VfRef
from vfplane.errors import NicError
from vfplane.host.nic import nic_errors

log = logging.getLogger(__name__)


class VfStateStore:
    """Saved originals of the VFs this agent changed, in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.problems: list[str] = []
        """What the last ``load_all`` found wrong (corrupt files moved aside)."""
        self._index: _Index | None = None
        """Which record file names which VF (second records included), once known."""
        self._durable: set[Path] = set()
        """Record files written or found before this store's last successful dir sync."""

    def save(self, vf: VfRef, saved: SavedVf, *, sync: bool = True) -> None:
        """Persist ``saved`` for ``vf``: durable when this returns, or with ``sync=False``
        once ``sync()`` has returned (the record's data is on disk, its name not yet)."""
        record = {
            "address": str(vf.address),
            "pf_ifname": vf.pf_ifname,
            "vf_index": vf.vf_index,
            "port_id": saved.port_id,
            "original": saved.original.as_dict(),
        }
        action = f"save the original state of VF {vf.address}"
        with nic_errors(f"{action} in {self.state_dir}"):
            self.state_dir.mkdir(parents=True, exist_ok=True)
            index = self._known()
            path = self._path_for(vf, index, action)
        with nic_errors(f"{action} to {path}"):
            stale = index.paths_of(vf.address) - {path}
            self._durable -= stale | {path}
            temp = path.with_name(f".{path.name}.tmp")
            with temp.open("w") as out:
                json.dump(record, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            temp.replace(path)
            index.add(path, vf.address)
            for old in stale:
                old.unlink(missing_ok=True)
                index.drop(old)
            if sync:
                self._sync_dir()

    def load_all(self) -> dict[PciAddress, SavedVf]:
        """Every saved VF; corrupt files are reported in ``problems`` and moved aside."""
        self.problems = []
        saved: dict[PciAddress, SavedVf] = {}
        self._index = index = _Index()
        found: set[Path] = set()
        for path in self._paths():
            try:
                address, entry = _parse(path.read_text())
            except (OSError, ValueError, TypeError, KeyError) as exc:
                self._move_aside(path, exc)
                continue
            index.add(path, address)
            found.add(path)
            if address in saved:
                self._report(f"{path}: a second record for VF {address}; ignored")
                continue
            saved[address] = entry
        self._durable &= found
        return saved

    def durable(self, address: PciAddress) -> bool:
        """Whether the record of the VF at ``address`` is known to be on disk: this store
        synced the directory after writing or finding it. False when nothing is saved."""
        paths = self._known().paths_of(address)
        return bool(paths) and paths <= self._durable

    def forget(self, address: PciAddress, *, sync: bool = True) -> None:
        """Drop the saved state of the VF at ``address``; nothing saved is fine."""
        with nic_errors(f"forget the original state of VF {address}"):
            index = self._known()
            paths = sorted(index.paths_of(address))
            for path in paths:
                self._durable.discard(path)
                path.unlink(missing_ok=True)
                index.drop(path)
            if paths and sync:
                self._sync_dir()

    def sync(self) -> None:
        """Make the ``save`` and ``forget`` calls made with ``sync=False`` durable."""
        with nic_errors(f"sync {self.state_dir}"):
            if self.state_dir.is_dir():
                self._sync_dir()

    def _paths(self) -> list[Path]:
        try:
            return sorted(p for p in self.state_dir.glob("*.json") if p.is_file())
        except OSError:
            return []

    def _path_for(self, vf: VfRef, index: _Index, action: str) -> Path:
        """The file for ``vf``'s record: its libvirt-like name unless that holds another
        VF's record (or a file not known to be this VF's), then the one naming its address.
        """
        names = (
            f"{vf.pf_ifname}_vf{vf.vf_index}.json",
            f"{vf.pf_ifname}_vf{vf.vf_index}@{vf.address}.json",
        )
        for name in names:
            path = self.state_dir / name
            holder = index.address_of(path)
            if holder == vf.address or (holder is None and not os.path.lexists(path)):
                return path
        taken = " and ".join(names)
        raise NicError(f"cannot {action}: {taken} in {self.state_dir} hold other records")

    def _known(self) -> _Index:
        """The index; read from the directory when not known yet (unreadable files are
        left alone here: ``load_all`` reports them)."""
        if self._index is None:
            self._index = _Index()
            for path in self._paths():
                try:
                    self._index.add(path, _parse(path.read_text())[0])
                except (OSError, ValueError, TypeError, KeyError):
                    continue
        return self._index

    def _move_aside(self, path: Path, exc: BaseException) -> None:
        target = path.with_name(path.name + ".corrupt")
        try:
            path.replace(target)
        except OSError as move_exc:
            self._report(f"{path}: unreadable ({exc}); cannot move it aside: {move_exc}")
            return
        self._report(f"{path}: unreadable ({exc}); moved to {target.name}")

    def _report(self, message: str) -> None:
        log.warning("VF state store: %s", message)
        self.problems.append(message)

    def _sync_dir(self) -> None:
        fd = os.open(self.state_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._durable = self._known().all_paths()


class _Index:
    """Record files by path and by the VF address they name."""

    def __init__(self) -> None:
        self._address: dict[Path, PciAddress] = {}
        self._paths: dict[PciAddress, set[Path]] = {}

    def add(self, path: Path, address: PciAddress) -> None:
        self.drop(path)
        self._address[path] = address
        self._paths.setdefault(address, set()).add(path)

    def drop(self, path: Path) -> None:
        address = self._address.pop(path, None)
        if address is not None:
            paths = self._paths[address]
            paths.discard(path)
            if not paths:
                del self._paths[address]

    def paths_of(self, address: PciAddress) -> set[Path]:
        return set(self._paths.get(address, ()))

    def address_of(self, path: Path) -> PciAddress | None:
        return self._address.get(path)

    def all_paths(self) -> set[Path]:
        return set(self._address)


def _parse(text: str) -> tuple[PciAddress, SavedVf]:
    record: Any = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    port_id, original = record["port_id"], record["original"]
    if not isinstance(port_id, str) or not port_id:
        raise ValueError("port_id must be a non-empty string")
    if not isinstance(original, dict):
        raise ValueError("original must be an object")
    if not isinstance(record["address"], str):
        raise ValueError("address must be a string")
    address = PciAddress.parse(record["address"])
    return address, SavedVf(port_id, VfConfig.from_dict(original))
