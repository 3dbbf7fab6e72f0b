"""Desired vs observed VF state, and the plan of actions that converges them.

Pure: the agent observes the host (VFs, their configs, the saved originals), asks the
server what its ports want, calls ``plan`` and applies the actions in order. Planning
is level-triggered: applying a plan and planning again against the new observed state
gives only reports, so a restart or a lost message only costs one more reconcile.

Rules (Neutron's SR-IOV agent, Nova's VF handling and sriov-cni's save/restore):

- ``admin_state_up`` false always disables the VF link (Neutron bug 2078789);
  otherwise ``propagate_uplink_status`` gives ``auto`` and anything else ``enable``.
- spoof checking follows ``port_security_enabled``; trust follows ``trusted``.
- QoS rates arrive in kbps and go to the NIC in Mbps (``kbps_to_mbps``); 0 is unlimited.
- the VF's config is saved before its first change and written back when no port
  uses the VF any more; a VF handed from one port to another keeps its first original.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vfplane.domain.pci import PciAddress
from vfplane.domain.qos import kbps_to_mbps

MAX_VLAN = 4095
MAX_VLAN_QOS = 7
ZERO_MAC = "00:00:00:00:00:00"
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class LinkState(StrEnum):
    """A VF's administrative link state (IFLA_VF_LINK_STATE 0, 1, 2)."""

    AUTO = "auto"
    ENABLE = "enable"
    DISABLE = "disable"


@dataclass(frozen=True, slots=True)
class VfConfig:
    """Everything the PF sets on one VF; rates in Mbps, 0 meaning unlimited.

    The MAC is stored lower-case so that configs compare equal however the NIC or
    the server spells it.
    """

    mac: str
    vlan: int = 0
    qos: int = 0
    spoofchk: bool = True
    trust: bool = False
    link_state: LinkState = LinkState.AUTO
    min_tx_rate: int = 0
    max_tx_rate: int = 0

    def __post_init__(self) -> None:
        mac = self.mac.strip().lower()
        if not _MAC_RE.match(mac):
            raise ValueError(f"{self.mac!r} is not a MAC address like 02:00:00:00:00:01")
        object.__setattr__(self, "mac", mac)
        object.__setattr__(self, "link_state", LinkState(self.link_state))
        if not 0 <= self.vlan <= MAX_VLAN:
            raise ValueError(f"VLAN {self.vlan} is outside 0..{MAX_VLAN}")
        if not 0 <= self.qos <= MAX_VLAN_QOS:
            raise ValueError(f"VLAN priority (qos) {self.qos} is outside 0..{MAX_VLAN_QOS}")
        for name in ("min_tx_rate", "max_tx_rate"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative: {getattr(self, name)} Mbps")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` reads it back."""
        return {
            "mac": self.mac,
            "vlan": self.vlan,
            "qos": self.qos,
            "spoofchk": self.spoofchk,
            "trust": self.trust,
            "link_state": str(self.link_state),
            "min_tx_rate": self.min_tx_rate,
            "max_tx_rate": self.max_tx_rate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VfConfig:
        """Read ``as_dict`` output; raises ValueError when a field is missing or mistyped."""
        ints = ("vlan", "qos", "min_tx_rate", "max_tx_rate")
        bools = ("spoofchk", "trust")
        try:
            mac, link_state = data["mac"], data["link_state"]
            values = {name: data[name] for name in (*ints, *bools)}
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a VF config needs every field; missing {exc}") from exc
        if not isinstance(mac, str) or not isinstance(link_state, str):
            raise ValueError("a VF config's mac and link_state must be strings")
        for name in ints:
            if type(values[name]) is not int:
                raise ValueError(f"a VF config's {name} must be an integer: {values[name]!r}")
        for name in bools:
            if type(values[name]) is not bool:
                raise ValueError(f"a VF config's {name} must be true or false: {values[name]!r}")
        return cls(mac=mac, link_state=LinkState(link_state), **values)


@dataclass(frozen=True, slots=True)
class DesiredPort:
    """What the server wants for one port bound to a VF of this host."""

    port_id: str
    pci_slot: PciAddress
    mac_address: str
    vlan: int
    admin_state_up: bool
    port_security_enabled: bool
    trusted: bool | None
    propagate_uplink_status: bool
    max_kbps: int | None
    min_kbps: int | None


def target_config(port: DesiredPort) -> VfConfig:
    """The VF config a port asks for."""
    if not port.admin_state_up:
        link_state = LinkState.DISABLE
    elif port.propagate_uplink_status:
        link_state = LinkState.AUTO
    else:
        link_state = LinkState.ENABLE
    return VfConfig(
        mac=port.mac_address,
        vlan=port.vlan,
        qos=0,
        spoofchk=port.port_security_enabled,
        trust=bool(port.trusted),
        link_state=link_state,
        min_tx_rate=kbps_to_mbps(port.min_kbps or 0),
        max_tx_rate=kbps_to_mbps(port.max_kbps or 0),
    )


@dataclass(frozen=True, slots=True)
class VfRef:
    """Where a VF is configured: through its PF's netdev, by index."""

    address: PciAddress
    pf_ifname: str
    vf_index: int


@dataclass(frozen=True, slots=True)
class SavedVf:
    """A VF's config from before vfplane first changed it, and the port that owns it."""

    port_id: str
    original: VfConfig


@dataclass(frozen=True, slots=True)
class ConfigureVf:
    """Write ``config`` to the VF for ``port_id``.

    When ``original`` is set, persist ``SavedVf(port_id, original)`` for the VF
    BEFORE writing: it is the VF's first change, or the VF changed hands and the
    saved entry must name the new port (keeping the first original).
    """

    vf: VfRef
    port_id: str
    config: VfConfig
    original: VfConfig | None


@dataclass(frozen=True, slots=True)
class RestoreVf:
    """Write ``original`` back to the VF, then forget its saved entry."""

    vf: VfRef
    port_id: str
    original: VfConfig


@dataclass(frozen=True, slots=True)
class ForgetVf:
    """Forget the saved entry of a VF that no longer exists (e.g. sriov_numvfs reset)."""

    address: PciAddress
    port_id: str


@dataclass(frozen=True, slots=True)
class ReportUp:
    """The port's VF is configured as desired."""

    port_id: str


@dataclass(frozen=True, slots=True)
class ReportDown:
    """The port no longer has a VF on this host."""

    port_id: str


@dataclass(frozen=True, slots=True)
class ReportError:
    """The port cannot be served here; ``message`` says why."""

    port_id: str
    message: str


Action = ConfigureVf | RestoreVf | ForgetVf | ReportUp | ReportDown | ReportError


def plan(
    desired: Sequence[DesiredPort],
    vfs: Mapping[PciAddress, VfRef],
    observed: Mapping[PciAddress, VfConfig],
    saved: Mapping[PciAddress, SavedVf],
) -> list[Action]:
    """The actions that take the host from ``observed`` to ``desired``.

    Releases (restores of VFs no port uses any more) come first, in address order,
    then one group per desired VF in the order of ``desired``. A ``ReportUp`` follows
    its ``ConfigureVf``: if the write fails, report the failure instead. A
    ``ReportDown`` is only given for ports that are not desired anywhere else.
    """
    by_slot: dict[PciAddress, list[DesiredPort]] = {}
    for port in desired:
        by_slot.setdefault(port.pci_slot, []).append(port)
    wanted = {port.port_id for port in desired}
    actions: list[Action] = []
    for address in sorted(saved.keys() - by_slot.keys()):
        actions.extend(_release(address, saved[address], vfs.get(address), wanted))
    for slot, ports in by_slot.items():
        actions.extend(_converge(slot, ports, vfs, observed, saved.get(slot), wanted))
    return actions


def _release(
    address: PciAddress, entry: SavedVf, vf: VfRef | None, wanted: set[str]
) -> list[Action]:
    actions: list[Action] = [
        RestoreVf(vf, entry.port_id, entry.original)
        if vf is not None
        else ForgetVf(address, entry.port_id)
    ]
    if entry.port_id not in wanted:
        actions.append(ReportDown(entry.port_id))
    return actions


def _converge(
    slot: PciAddress,
    ports: list[DesiredPort],
    vfs: Mapping[PciAddress, VfRef],
    observed: Mapping[PciAddress, VfConfig],
    entry: SavedVf | None,
    wanted: set[str],
) -> list[Action]:
    if len(ports) > 1:
        names = ", ".join(port.port_id for port in ports)
        message = f"VF {slot} is requested by several ports ({names}); a VF serves one port"
        return [ReportError(port.port_id, message) for port in ports]
    port = ports[0]
    vf = vfs.get(slot)
    if vf is None:
        return [ReportError(port.port_id, f"no VF with PCI address {slot} on this host")]
    current = observed.get(slot)
    if current is None:
        message = f"the state of VF {slot} ({vf.pf_ifname} vf {vf.vf_index}) could not be read"
        return [ReportError(port.port_id, message)]
    try:
        target = target_config(port)
    except ValueError as exc:
        return [ReportError(port.port_id, f"cannot configure VF {slot}: {exc}")]
    moved = entry is not None and entry.port_id != port.port_id
    if current == target and not moved:
        return [ReportUp(port.port_id)]
    if entry is None:
        original: VfConfig | None = current
    else:
        original = entry.original if moved else None
    actions: list[Action] = [ConfigureVf(vf, port.port_id, target, original)]
    if entry is not None and moved and entry.port_id not in wanted:
        actions.append(ReportDown(entry.port_id))
    actions.append(ReportUp(port.port_id))
    return actions


def originals_digest(originals: Mapping[str, Any]) -> str:
    """SHA-256 of saved originals (VF address → record) in canonical JSON: the server puts
    the digest of those it keeps in the desired state, and the agent reports its own only
    when they differ."""
    canonical = json.dumps(originals, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
