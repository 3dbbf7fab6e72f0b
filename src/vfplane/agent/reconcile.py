"""One reconcile pass: observe → plan → apply → report, for the VFs of one host.

Level-triggered: each pass reads the whole observed state again, so a restart or a
failed write only means one more pass. The original state of a VF is persisted
before its first change, and every write is read back before the port is reported up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vfplane.domain.pci import DeviceType, PciAddress, PciDevice
from vfplane.domain.vfstate import (
    ConfigureVf,
    DesiredPort,
    ForgetVf,
    ReportDown,
    ReportError,
    ReportUp,
    RestoreVf,
    SavedVf,
    VfConfig,
    VfRef,
    plan,
)
from vfplane.errors import InvalidPciAddress, VfplaneError
from vfplane.host.nic import NicDriver, write_vfs
from vfplane.host.vf_state_store import VfStateStore

LOG = logging.getLogger(__name__)
WriteAction = ConfigureVf | RestoreVf


@dataclass
class Outcome:
    """What a pass achieved, to report to the server."""

    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    applied: int = 0
    request_ids: dict[str, str] = field(default_factory=dict)  # port → the call that asked

    @property
    def clean(self) -> bool:
        return not self.errors


def parse_desired(ports: Iterable[Mapping[str, Any]]) -> tuple[list[DesiredPort], dict[str, str]]:
    """The server's desired ports; entries that cannot be used become errors."""
    desired: list[DesiredPort] = []
    problems: dict[str, str] = {}
    for entry in ports:
        port_id = str(entry["port_id"])
        slot = entry.get("pci_slot")
        try:
            address = PciAddress.parse(str(slot))
        except InvalidPciAddress:
            problems[port_id] = f"binding:profile has no usable pci_slot ({slot!r})"
            continue
        desired.append(DesiredPort(
            port_id=port_id, pci_slot=address, mac_address=str(entry["mac_address"]),
            vlan=int(entry.get("vlan") or 0), admin_state_up=bool(entry["admin_state_up"]),
            port_security_enabled=bool(entry["port_security_enabled"]),
            trusted=entry.get("trusted"),
            propagate_uplink_status=bool(entry.get("propagate_uplink_status")),
            max_kbps=entry.get("max_kbps"), min_kbps=entry.get("min_kbps"),
        ))  # fmt: skip
    return desired, problems


def vf_refs(devices: Iterable[PciDevice]) -> dict[PciAddress, VfRef]:
    """The VFs the agent can configure: those whose PF has a netdev."""
    return {
        d.address: VfRef(d.address, d.pf_ifname, d.vf_index)
        for d in devices
        if d.dev_type is DeviceType.VF and d.pf_ifname and d.vf_index is not None
    }


class Reconciler:
    """Applies a pass's plan in batches: every original first (one directory sync, which
    also confirms any record not yet known durable), then every write, then one
    read-back per PF, then the forgotten originals (one sync).

    Each step still fails port by port: a port whose original could not be saved is
    not written, a failed or mismatching write marks only its port, and a restored VF's
    original is forgotten only once the read-back shows it restored.
    """

    def __init__(self, nic: NicDriver, store: VfStateStore) -> None:
        self._nic = nic
        self._store = store
        self._request_ids: Mapping[str, str] = {}
        self.originals: dict[str, dict[str, Any]] = {}
        """After a pass: the saved originals on disk, by VF address (what the server shows)."""

    def observe(self, vfs: Mapping[PciAddress, VfRef]) -> dict[PciAddress, VfConfig]:
        observed: dict[PciAddress, VfConfig] = {}
        for pf in sorted({vf.pf_ifname for vf in vfs.values()}):
            try:
                configs = self._nic.read_vfs(pf)
            except VfplaneError as exc:
                LOG.warning("%s", exc)
                continue
            for address, vf in vfs.items():
                if vf.pf_ifname == pf and vf.vf_index in configs:
                    observed[address] = configs[vf.vf_index]
        return observed

    def run(
        self, desired: Sequence[Mapping[str, Any]], devices: Iterable[PciDevice],
        released: Mapping[str, str] | None = None,
    ) -> Outcome:  # fmt: skip
        """One pass. ``released``: port id → the request id that took the port away (its
        VF's restore names it); a desired port's own ``request_id`` names its changes."""
        ports, problems = parse_desired(desired)
        self._request_ids = {**(released or {}), **_request_ids(desired)}
        outcome = Outcome(errors=dict(problems), request_ids=dict(self._request_ids))
        vfs = vf_refs(devices)
        saved = self._store.load_all()
        actions = plan(ports, vfs, self.observe(vfs), saved)
        failed: dict[str, str] = {}
        writes = [a for a in actions if isinstance(a, WriteAction)]
        self._save_originals(writes, failed)
        verified = self._read_back(self._write(writes, failed), failed)
        outcome.applied = len(verified)
        done: list[RestoreVf | ForgetVf] = [a for a in verified if isinstance(a, RestoreVf)]
        forgets = done + [a for a in actions if isinstance(a, ForgetVf)]
        self._forget(forgets, failed)
        self._note_originals(saved, writes, [a for a in forgets if a.port_id not in failed])
        for action in actions:
            if isinstance(action, ReportUp) and action.port_id not in failed:
                outcome.up.append(action.port_id)
            elif isinstance(action, ReportDown):
                outcome.down.append(action.port_id)
            elif isinstance(action, ReportError):
                outcome.errors[action.port_id] = action.message
        outcome.errors.update(failed)
        return outcome

    def _save_originals(self, writes: Sequence[WriteAction], failed: dict[str, str]) -> None:
        """Persist the originals the writes need, all durable before any write.

        The one directory sync also covers the records saved by an earlier pass (or
        another run) whose sync failed or is not known to have happened: a VF is only
        written once a sync has confirmed its record on disk.
        """
        for action in writes:
            if isinstance(action, ConfigureVf) and action.original is not None:
                try:
                    self._store.save(action.vf, SavedVf(action.port_id, action.original),
                                     sync=False)  # fmt: skip
                except VfplaneError as exc:
                    self._fail(failed, action, exc)
        unsynced = [
            action
            for action in writes
            if isinstance(action, ConfigureVf)  # a restore is safe without its record
            and action.port_id not in failed
            and not self._store.durable(action.vf.address)
        ]
        if unsynced:
            try:
                self._store.sync()
            except VfplaneError as exc:
                error = _NotDurable(f"not written: its saved original is not durable ({exc})")
                for action in unsynced:
                    self._fail(failed, action, error)

    def _write(self, writes: Sequence[WriteAction], failed: dict[str, str]) -> list[WriteAction]:
        """Write the VFs whose port has not failed yet, one batch per PF (a plan touches
        each VF once); the writes that went through."""
        by_pf: dict[str, dict[int, WriteAction]] = {}
        for action in writes:
            if action.port_id not in failed:
                by_pf.setdefault(action.vf.pf_ifname, {})[action.vf.vf_index] = action
        written: list[WriteAction] = []
        for pf, actions in sorted(by_pf.items()):
            configs = {index: _target(action) for index, action in actions.items()}
            errors: Mapping[int, VfplaneError]
            try:
                errors = write_vfs(self._nic, pf, configs)
            except VfplaneError as exc:
                errors = dict.fromkeys(actions, exc)
            for index, action in actions.items():
                if index in errors:
                    self._fail(failed, action, errors[index])
                else:
                    written.append(action)
        return written

    def _read_back(
        self, written: Sequence[WriteAction], failed: dict[str, str]
    ) -> list[WriteAction]:
        """Read each PF once and keep the writes the NIC shows as written."""
        verified: list[WriteAction] = []
        for pf in sorted({action.vf.pf_ifname for action in written}):
            on_pf = [action for action in written if action.vf.pf_ifname == pf]
            try:
                seen = self._nic.read_vfs(pf)
            except VfplaneError as exc:
                for action in on_pf:
                    self._fail(failed, action, exc)
                continue
            for action in on_pf:
                target = _target(action)
                found = seen.get(action.vf.vf_index)
                if found != target:
                    error = _Mismatch(f"read back {found} after writing {target}")
                    self._fail(failed, action, error)
                    continue
                done = "configured for" if isinstance(action, ConfigureVf) else "restored after"
                LOG.info("VF %s %s port %s", action.vf.address, done, action.port_id,
                         extra=self._fields(action))  # fmt: skip
                verified.append(action)
        return verified

    def _forget(self, actions: Sequence[RestoreVf | ForgetVf], failed: dict[str, str]) -> None:
        """Drop the originals of restored and vanished VFs (one directory sync)."""
        for action in actions:
            address = action.vf.address if isinstance(action, RestoreVf) else action.address
            try:
                self._store.forget(address, sync=False)
            except VfplaneError as exc:
                failed[action.port_id] = f"VF {address}: {exc}"
        if actions:
            try:
                self._store.sync()
            except VfplaneError as exc:
                LOG.warning("%s", exc)  # forgotten again by the next pass's restore

    def _note_originals(
        self, saved: Mapping[PciAddress, SavedVf], writes: Sequence[WriteAction],
        forgotten: Sequence[RestoreVf | ForgetVf],
    ) -> None:  # fmt: skip
        """The records the state directory holds now: those the pass began with, plus the
        originals it saved durably, less the ones it forgot."""
        held = dict(saved)
        firsts = [(a.vf.address, SavedVf(a.port_id, a.original)) for a in writes
                  if isinstance(a, ConfigureVf) and a.original is not None]  # fmt: skip
        held.update((address, vf) for address, vf in firsts if self._store.durable(address))
        for gone in forgotten:
            held.pop(gone.vf.address if isinstance(gone, RestoreVf) else gone.address, None)
        self.originals = {str(address): {"port_id": vf.port_id, "config": vf.original.as_dict()}
                          for address, vf in sorted(held.items())}  # fmt: skip

    def _fields(self, action: WriteAction) -> dict[str, Any]:
        """A VF action's structured log fields, with the request id that asked for it."""
        vf = action.vf
        fields = {"port_id": action.port_id, "pci_address": str(vf.address),
                  "pf_ifname": vf.pf_ifname, "vf_index": vf.vf_index}  # fmt: skip
        request_id = self._request_ids.get(action.port_id)
        return {**fields, "request_id": request_id} if request_id else fields

    def _fail(self, failed: dict[str, str], action: WriteAction, exc: VfplaneError) -> None:
        failed[action.port_id] = f"VF {action.vf.address}: {exc}"
        LOG.warning("port %s: %s", action.port_id, exc, extra=self._fields(action))


def _request_ids(desired: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(p["port_id"]): str(p["request_id"]) for p in desired if p.get("request_id")}


def _target(action: WriteAction) -> VfConfig:
    return action.config if isinstance(action, ConfigureVf) else action.original


class _Mismatch(VfplaneError):
    """The NIC did not keep what was written."""


class _NotDurable(VfplaneError):
    """A VF's saved original could not be made durable, so the VF was not written."""
