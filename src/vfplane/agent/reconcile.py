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
    Action,
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
from vfplane.host.nic import NicDriver
from vfplane.host.vf_state_store import VfStateStore

LOG = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a pass achieved, to report to the server."""

    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    applied: int = 0

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
    def __init__(self, nic: NicDriver, store: VfStateStore) -> None:
        self._nic = nic
        self._store = store

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

    def run(self, desired: Sequence[Mapping[str, Any]], devices: Iterable[PciDevice]) -> Outcome:
        ports, problems = parse_desired(desired)
        outcome = Outcome(errors=dict(problems))
        vfs = vf_refs(devices)
        actions = plan(ports, vfs, self.observe(vfs), self._store.load_all())
        failed: set[str] = set()
        for action in actions:
            self._apply(action, outcome, failed)
        return outcome

    def _apply(self, action: Action, outcome: Outcome, failed: set[str]) -> None:
        if isinstance(action, ReportUp):
            if action.port_id not in failed:
                outcome.up.append(action.port_id)
        elif isinstance(action, ReportDown):
            outcome.down.append(action.port_id)
        elif isinstance(action, ReportError):
            outcome.errors[action.port_id] = action.message
        elif isinstance(action, ForgetVf):
            self._store.forget(action.address)
        else:
            try:
                self._write(action)
                outcome.applied += 1
            except VfplaneError as exc:
                failed.add(action.port_id)
                outcome.errors[action.port_id] = f"VF {action.vf.address}: {exc}"
                LOG.warning("port %s: %s", action.port_id, exc)

    def _write(self, action: ConfigureVf | RestoreVf) -> None:
        vf = action.vf
        if isinstance(action, ConfigureVf):
            if action.original is not None:
                self._store.save(vf, SavedVf(action.port_id, action.original))
            target = action.config
        else:
            target = action.original
        self._nic.write_vf(vf.pf_ifname, vf.vf_index, target)
        seen = self._nic.read_vfs(vf.pf_ifname).get(vf.vf_index)
        if seen != target:
            raise _Mismatch(f"read back {seen} after writing {target}")
        if isinstance(action, RestoreVf):
            self._store.forget(vf.address)
            LOG.info("VF %s restored after port %s", vf.address, action.port_id)
        else:
            LOG.info("VF %s configured for port %s", vf.address, action.port_id)


class _Mismatch(VfplaneError):
    """The NIC did not keep what was written."""
