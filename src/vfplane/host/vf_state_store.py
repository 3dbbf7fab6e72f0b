"""The agent's record of each VF's original config, saved before the first change.

One JSON file per VF, named like libvirt's ``<stateDir>/<pf>_vf<N>`` records
(``ens1f0_vf3.json``), written atomically and fsynced with its directory, so that a
crash between saving and configuring never loses the original. The file holds the
VF's PCI address, which is the key: a PF renamed by an OS upgrade does not orphan it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import SavedVf, VfConfig, VfRef
from vfplane.host.nic import nic_errors

log = logging.getLogger(__name__)


class VfStateStore:
    """Saved originals of the VFs this agent changed, in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.problems: list[str] = []
        """What the last ``load_all`` found wrong (corrupt files moved aside)."""

    def save(self, vf: VfRef, saved: SavedVf) -> None:
        """Persist ``saved`` for ``vf``; durable when this returns."""
        record = {
            "address": str(vf.address),
            "pf_ifname": vf.pf_ifname,
            "vf_index": vf.vf_index,
            "port_id": saved.port_id,
            "original": saved.original.as_dict(),
        }
        path = self.state_dir / f"{vf.pf_ifname}_vf{vf.vf_index}.json"
        with nic_errors(f"save the original state of VF {vf.address} to {path}"):
            self.state_dir.mkdir(parents=True, exist_ok=True)
            stale = [p for p, address in self._files() if address == vf.address and p != path]
            temp = path.with_name(f".{path.name}.tmp")
            with temp.open("w") as out:
                json.dump(record, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            temp.replace(path)
            for old in stale:
                old.unlink(missing_ok=True)
            self._sync_dir()

    def load_all(self) -> dict[PciAddress, SavedVf]:
        """Every saved VF; corrupt files are reported in ``problems`` and moved aside."""
        self.problems = []
        saved: dict[PciAddress, SavedVf] = {}
        for path in self._paths():
            try:
                address, entry = _parse(path.read_text())
            except (OSError, ValueError, TypeError, KeyError) as exc:
                self._move_aside(path, exc)
                continue
            if address in saved:
                self._report(f"{path}: a second record for VF {address}; ignored")
                continue
            saved[address] = entry
        return saved

    def forget(self, address: PciAddress) -> None:
        """Drop the saved state of the VF at ``address``; nothing saved is fine."""
        with nic_errors(f"forget the original state of VF {address}"):
            paths = [path for path, found in self._files() if found == address]
            for path in paths:
                path.unlink(missing_ok=True)
            if paths:
                self._sync_dir()

    def _paths(self) -> list[Path]:
        try:
            return sorted(p for p in self.state_dir.glob("*.json") if p.is_file())
        except OSError:
            return []

    def _files(self) -> list[tuple[Path, PciAddress | None]]:
        """Each record file with the VF address it names, ``None`` when unreadable."""
        files: list[tuple[Path, PciAddress | None]] = []
        for path in self._paths():
            try:
                address = _parse(path.read_text())[0]
            except (OSError, ValueError, TypeError, KeyError):
                address = None
            files.append((path, address))
        return files

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
