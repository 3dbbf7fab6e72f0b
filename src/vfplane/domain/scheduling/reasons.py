"""Why a host does not fit: structured reasons, per host and per request, and one summary line."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from vfplane.domain.alias import NumaPolicy
from vfplane.domain.requests import PciRequest

_NOUNS = {"type-pf": "PF", "type-vf": "VF", "type-pci": "PCI device"}


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    """What a request asks for, in words: a physnet (ports) or an alias (flavors)."""

    physnet: str | None
    alias_name: str | None
    dev_type: str | None
    needs_netdev: bool = False  # macvtap

    @classmethod
    def of(cls, request: PciRequest) -> DeviceTarget:
        physnet = next(
            (s["physical_network"] for s in request.specs if "physical_network" in s), None
        )
        dev_type = next((s["dev_type"] for s in request.specs if s.get("dev_type")), None)
        needs_netdev = any(str(s.get("has_netdev")).lower() == "true" for s in request.specs)
        return cls(physnet, request.alias_name, dev_type, needs_netdev)

    def noun(self, count: int, *, port_default: str = "VF") -> str:
        """``VF``/``VFs``, ``PF``..., ``device`` when the request does not say."""
        if self.dev_type is not None:
            word = _NOUNS.get(self.dev_type.lower(), "device")
        else:
            word = port_default if self.alias_name is None else "device"
        return word if count == 1 else word + "s"

    @property
    def where(self) -> str:
        if self.alias_name is not None:
            return f"for alias '{self.alias_name}'"
        netdev = " with a netdev (macvtap; not bound to vfio-pci)" if self.needs_netdev else ""
        if self.physnet is None:
            return f"for overlay networks (untagged){netdev}"
        return f"on {self.physnet}{netdev}"


class Reason:
    """One reason a host does not fit; ``phrase`` follows "the host has".

    Reasons about one PCI request carry its ``request_id``.
    """

    filter_name = ""

    def phrase(self) -> str:
        raise NotImplementedError

    def group_key(self) -> Hashable:
        return self.phrase()

    def broad_phrase(self, group: Sequence[Reason]) -> str:
        """The phrase for several hosts whose reasons share a group key."""
        return self.phrase()

    def as_dict(self) -> dict[str, object]:
        fields: dict[str, object] = {}
        if dataclasses.is_dataclass(self):
            fields = dataclasses.asdict(self)
        return {"kind": type(self).__name__, "message": self.phrase(), **fields}


def _span(values: Iterable[float]) -> str:
    ordered = sorted(set(values))
    low, high = ordered[0], ordered[-1]
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


@dataclass(frozen=True, slots=True)
class NotEnoughVcpus(Reason):
    free: float
    wanted: int
    filter_name = "compute"

    def phrase(self) -> str:
        return f"{self.free:g} free vCPUs ({self.wanted} wanted)"

    def group_key(self) -> Hashable:
        return (type(self), self.wanted)

    def broad_phrase(self, group: Sequence[Reason]) -> str:
        span = _span(r.free for r in group if isinstance(r, NotEnoughVcpus))
        return f"{span} free vCPUs ({self.wanted} wanted)"


@dataclass(frozen=True, slots=True)
class NotEnoughMemory(Reason):
    free_mb: float
    wanted_mb: int
    filter_name = "compute"

    def phrase(self) -> str:
        return f"{self.free_mb:g} MB free RAM ({self.wanted_mb} MB wanted)"

    def group_key(self) -> Hashable:
        return (type(self), self.wanted_mb)

    def broad_phrase(self, group: Sequence[Reason]) -> str:
        span = _span(r.free_mb for r in group if isinstance(r, NotEnoughMemory))
        return f"{span} MB free RAM ({self.wanted_mb} MB wanted)"


@dataclass(frozen=True, slots=True)
class NoMatchingDevice(Reason):
    """The host has no device at all (in any status) that the request could use."""

    request_id: str | None
    target: DeviceTarget
    filter_name = "pci"

    def phrase(self) -> str:
        return f"no {self.target.noun(1, port_default='device')} {self.target.where}"


@dataclass(frozen=True, slots=True)
class NotEnoughFree(Reason):
    """Matching devices exist, but too few are free.

    ``free`` counts what is left after the boot's earlier requests took
    ``taken_by_boot``; ``allocated`` devices are in use (or blocked by their PF or
    VFs' use, per their status); ``blocked`` are available by status but their PF or
    a VF is in use.
    """

    request_id: str | None
    target: DeviceTarget
    free: int
    wanted: int
    allocated: int
    blocked: int = 0
    taken_by_boot: int = 0
    filter_name = "pci"

    def phrase(self) -> str:
        extras = [f"{self.wanted} wanted"] if self.wanted != 1 else []
        if self.allocated:
            extras.append(f"{self.allocated} allocated")
        if self.blocked:
            extras.append(f"{self.blocked} blocked by their PF or VFs in use")
        if self.taken_by_boot:
            extras.append(f"{self.taken_by_boot} used up by other requests of this boot")
        tail = f" ({', '.join(extras)})" if extras else ""
        return f"{self.free} free {self.target.noun(self.free)} {self.target.where}{tail}"

    def group_key(self) -> Hashable:
        return (type(self), self.target, self.wanted)

    def broad_phrase(self, group: Sequence[Reason]) -> str:
        mine = [r for r in group if isinstance(r, NotEnoughFree)]
        free = _span(r.free for r in mine)
        allocated = _span(r.allocated for r in mine)
        return (
            f"too few free {self.target.noun(2)} {self.target.where} "
            f"({free} free, {self.wanted} wanted, {allocated} allocated)"
        )


@dataclass(frozen=True, slots=True)
class NotEnoughNumaNodes(Reason):
    wanted: int
    available: int
    filter_name = "numa"

    def phrase(self) -> str:
        nodes = "NUMA node" if self.available == 1 else "NUMA nodes"
        return f"{self.available} {nodes} ({self.wanted} wanted by the guest)"


@dataclass(frozen=True, slots=True)
class NumaMismatch(Reason):
    """The devices are free, but not where the request's NUMA policy allows.

    ``cells`` are the host NUMA nodes tried for the guest (the PCI-richest
    choice); ``near`` counts free matching devices the policy accepts there.
    """

    request_id: str | None
    target: DeviceTarget
    policy: NumaPolicy
    cells: tuple[int, ...]
    near: int
    wanted: int
    filter_name = "numa"

    def phrase(self) -> str:
        nodes = "node" if len(self.cells) == 1 else "nodes"
        cells = ",".join(map(str, self.cells))
        return (
            f"{self.near} free {self.target.noun(self.near)} {self.target.where} near NUMA "
            f"{nodes} {cells} ({self.wanted} wanted, policy {self.policy.value})"
        )

    def group_key(self) -> Hashable:
        return (type(self), self.target, self.policy, self.wanted)

    def broad_phrase(self, group: Sequence[Reason]) -> str:
        return (
            f"too few free {self.target.noun(2)} {self.target.where} near the guest's NUMA "
            f"nodes ({self.wanted} wanted, policy {self.policy.value})"
        )


@dataclass(frozen=True, slots=True)
class HostExplanation:
    """Why one host does not fit: the first failing filter and its reasons."""

    host: str
    filter_name: str
    reasons: tuple[Reason, ...]

    @property
    def message(self) -> str:
        return "; ".join(reason.phrase() for reason in self.reasons)

    def for_request(self, request_id: str) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if getattr(r, "request_id", None) == request_id)

    def as_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "filter": self.filter_name,
            "message": self.message,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


def summarise(
    explanations: Sequence[HostExplanation], bulk: Sequence[tuple[Reason, int]] = ()
) -> str:
    """One line over the hosts, grouped by each host's first reason, largest group first.

    ``bulk`` are reasons that hold for a number of hosts at once (a large catalog
    explains hosts without a usable pool that way, without examining them).
    """
    weighted = [(e.reasons[0], 1) for e in explanations] + list(bulk)
    count = sum(hosts for _, hosts in weighted)
    head = f"{count} host" if count == 1 else f"{count} hosts"
    groups: dict[Hashable, list[tuple[Reason, int]]] = {}
    for reason, hosts in weighted:
        groups.setdefault(reason.group_key(), []).append((reason, hosts))
    parts = []
    for group in sorted(groups.values(), key=lambda g: sum(n for _, n in g), reverse=True):
        reasons = [reason for reason, _ in group]
        phrases = {reason.phrase() for reason in reasons}
        phrase = reasons[0].phrase() if len(phrases) == 1 else reasons[0].broad_phrase(reasons)
        hosts = sum(n for _, n in group)
        verb = "has" if hosts == 1 else "have"
        parts.append(f"{hosts} {verb} {phrase}")
    return f"{head}: {'; '.join(parts)}" if parts else head
