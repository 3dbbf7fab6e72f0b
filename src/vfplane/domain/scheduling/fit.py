"""Does one boot fit one host? The capacity, PCI and NUMA filters.

All PCI requests of a boot are applied cumulatively to one trial (Nova bug
1986838), without copying the host's pools: the trial only counts what it
takes per pool. Taking a PF blocks the VF pools of that PF and taking a VF
blocks its PF's pool, for the rest of the boot.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Hashable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, cast

from vfplane.domain.alias import NumaPolicy
from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.domain.requests import PciRequest
from vfplane.domain.scheduling.index import (
    IGNORED_TAGS,
    HostIndex,
    Pool,
    PropValue,
    Signature,
)
from vfplane.domain.scheduling.reasons import (
    DeviceTarget,
    HostExplanation,
    NoMatchingDevice,
    NotEnoughFree,
    NotEnoughMemory,
    NotEnoughNumaNodes,
    NotEnoughVcpus,
    NumaMismatch,
    Reason,
)

_IGNORED_SPEC_KEYS = IGNORED_TAGS
PF_TYPE = DeviceType.PF.value.lower()
Plan = list[tuple[Pool, int]]


class Shape:
    """What a request asks for, without its ids: lower-cased specs, policy and words.

    Requests of equal specs, policy and alias share one interned shape, which hashes
    by identity (``interned`` is false for specs that cannot be keys).
    """

    __slots__ = (
        "interned", "policy", "specs", "target", "verdicts", "wants_pf", "wants_remote_managed",
    )  # fmt: skip

    def __init__(self, request: PciRequest, policy: NumaPolicy, *, interned: bool) -> None:
        self.specs = specs = _lowered(request)
        self.wants_pf = any(dict(s).get("dev_type") == "type-pf" for s in specs)
        self.wants_remote_managed = any(dict(s).get("remote_managed") == "true" for s in specs)
        self.policy = policy
        self.target = DeviceTarget.of(request)
        self.interned = interned
        try:
            self.verdicts = _verdicts(specs, self.wants_pf, self.wants_remote_managed)
        except TypeError:  # a spec value that cannot be a key: this request keeps its own
            self.verdicts = {}

    def accepts(self, signature: Signature) -> bool:
        """Whether pools of ``signature`` may serve the request; remembered per signature,
        since hosts of one hardware layout share their few signatures."""
        verdict = self.verdicts.get(signature)
        if verdict is None:
            props = dict(signature)
            verdict = self.verdicts[signature] = (
                any(all(props.get(k) == v for k, v in spec) for spec in self.specs)
                and (self.wants_pf or props.get("dev_type") != PF_TYPE)
                and (self.wants_remote_managed or props.get("remote_managed") != "true")
            )
        return verdict


def interned(requests: Sequence[CompiledRequest]) -> bool:
    return all(request.shape.interned for request in requests)


_SHAPES: dict[Hashable, Shape] = {}
SHAPES_KEPT = 4096  # interned shapes; beyond this many the table starts again


def _shape(request: PciRequest, default_policy: NumaPolicy | None) -> Shape:
    policy = request.numa_policy or default_policy or NumaPolicy.LEGACY
    try:
        specs = request.specs
        items = (
            (tuple(specs[0].items()),)
            if len(specs) == 1
            else tuple([tuple(spec.items()) for spec in specs])
        )
        key = (items, policy, request.alias_name)
        found = _SHAPES.get(key)
    except TypeError:
        return Shape(request, policy, interned=False)
    if found is None:
        if len(_SHAPES) >= SHAPES_KEPT:
            _SHAPES.clear()
        found = _SHAPES[key] = Shape(request, policy, interned=True)
    return found


def _lowered(request: PciRequest) -> tuple[tuple[tuple[str, PropValue], ...], ...]:
    return tuple(
        tuple(
            (key, value.lower() if isinstance(value, str) else value)
            for key, value in spec.items()
            if key not in _IGNORED_SPEC_KEYS
        )
        for spec in request.specs
    )


@dataclass(slots=True)  # not frozen: made per decision, and cheaper so
class CompiledRequest:
    """A request prepared once per decision: the request and its (shared) shape."""

    request: PciRequest
    shape: Shape

    @classmethod
    def of(cls, request: PciRequest, default_policy: NumaPolicy | None) -> CompiledRequest:
        return cls(request, _shape(request, default_policy))

    @property
    def specs(self) -> tuple[tuple[tuple[str, PropValue], ...], ...]:
        return self.shape.specs

    @property
    def policy(self) -> NumaPolicy:
        return self.shape.policy

    @property
    def target(self) -> DeviceTarget:
        return self.shape.target

    def eligible(self, pools: Sequence[Pool]) -> list[Pool]:
        """Nova's filter steps that do not depend on counts: spec, PF, remote_managed."""
        accepts = self.shape.accepts
        return [pool for pool in pools if accepts(pool.signature)]

    def accepts(self, signature: Signature) -> bool:
        return self.shape.accepts(signature)


@functools.lru_cache(maxsize=4096)
def _verdicts(
    specs: tuple[tuple[tuple[str, PropValue], ...], ...], wants_pf: bool, wants_remote_managed: bool
) -> dict[Signature, bool]:
    """The verdicts of equal requests, shared between decisions (they depend on nothing else)."""
    return {}


@dataclass(slots=True)  # not frozen: made per decision, and cheaper so
class Workload:
    """The instance-level inputs of the filters."""

    vcpus: int
    memory_mb: int
    requests: tuple[CompiledRequest, ...]
    guest_numa_nodes: int | None
    key: Hashable = field(default=None, compare=False)  # what a device verdict depends on

    @classmethod
    def of(
        cls, vcpus: int, memory_mb: int, requests: tuple[CompiledRequest, ...],
        guest_numa_nodes: int | None,
    ) -> Workload:  # fmt: skip
        """With its ``key``: the requests' shapes and counts and the guest's NUMA nodes
        (``None`` when a request's shape is not interned: such workloads are not cached)."""
        shapes = []
        for request in requests:
            if not request.shape.interned:
                return cls(vcpus, memory_mb, requests, guest_numa_nodes, None)
            shapes.append((request.shape, request.request.count))
        return cls(vcpus, memory_mb, requests, guest_numa_nodes, (tuple(shapes), guest_numa_nodes))


@dataclass(slots=True)  # not frozen: made per decision, and cheaper so
class HostFit:
    """A host that fits, with the concrete devices per request, in request order."""

    index: HostIndex
    assignments: tuple[tuple[PciRequest, tuple[PciAddress, ...]], ...]
    numa_cells: tuple[int, ...] = ()  # the host cells a guest NUMA topology was fitted to


class _Trial:
    """What one boot has taken from a host's pools so far."""

    __slots__ = ("pf_taken", "taken", "vf_parents_taken")

    def __init__(self) -> None:
        self.taken: dict[int, int] = {}
        self.pf_taken: dict[PciAddress, int] = {}
        self.vf_parents_taken: dict[PciAddress, int] = {}

    def free(self, pool: Pool) -> int:
        if pool.dev_type is DeviceType.PF and self.vf_parents_taken.get(pool.address):
            return 0
        if pool.dev_type is DeviceType.VF and self.pf_taken.get(pool.address):
            return 0
        return len(pool.free) - self.taken.get(pool.position, 0)

    def take(self, pool: Pool, count: int) -> None:
        self._add(pool, count)

    def undo(self, plan: Plan) -> None:
        for pool, count in plan:
            self._add(pool, -count)

    def _add(self, pool: Pool, count: int) -> None:
        self.taken[pool.position] = self.taken.get(pool.position, 0) + count
        family = {DeviceType.PF: self.pf_taken, DeviceType.VF: self.vf_parents_taken}
        counts = family.get(pool.dev_type)
        if counts is not None:
            counts[pool.address] = counts.get(pool.address, 0) + count


def evaluate(
    index: HostIndex, work: Workload, verdicts: MutableMapping[Hashable, Verdict] | None = None
) -> HostFit | HostExplanation:
    """Capacity, then PCI (all requests cumulatively), then NUMA; first failure explains.

    ``verdicts`` keeps the PCI and NUMA outcome by ``work.key`` for hosts whose
    fingerprint equals this one's (see ``HostIndex.fingerprint``): only the host's
    name and addresses are then filled in.
    """
    host = index.host
    if (
        host.vcpus * host.cpu_allocation_ratio - index.vcpus_used < work.vcpus
        or host.memory_mb * host.ram_allocation_ratio - index.memory_mb_used < work.memory_mb
    ):
        return HostExplanation(index.name, "compute", tuple(capacity_reasons(index, work)))
    if verdicts is None or work.key is None:
        return device_verdict(index, work).apply(index, work)
    return cached_verdict(index, work, verdicts)


def cached_verdict(
    index: HostIndex, work: Workload, verdicts: MutableMapping[Hashable, Verdict]
) -> HostFit | HostExplanation:
    """``evaluate`` past the capacity filter, for a ``work`` with a ``key``."""
    verdict = verdicts.get(work.key)
    if verdict is None:
        if len(verdicts) >= VERDICTS_KEPT:
            verdicts.clear()
        verdict = verdicts[work.key] = device_verdict(index, work)
    return verdict.apply(index, work)


VERDICTS_KEPT = 1024  # per fingerprint; beyond this many the cache starts again
PositionPlan = tuple[tuple[int, int], ...]  # (pool position, devices) per planned pool


@dataclass(frozen=True, slots=True)
class Verdict:
    """The PCI and NUMA outcome of one workload on one host, without the host's name and
    addresses: ``plans`` and ``cells`` when it fits, else the filter and its reasons
    (naming the requests by ``ids``)."""

    plans: tuple[PositionPlan, ...] = ()
    cells: tuple[int, ...] = ()
    filter_name: str = ""
    reasons: tuple[Reason, ...] = ()
    ids: tuple[str, ...] = ()

    def apply(self, index: HostIndex, work: Workload) -> HostFit | HostExplanation:
        if not self.filter_name:
            plans = self.plans
            if len(plans) == 1 and len(plans[0]) == 1:  # the common case: one request, one pool
                ((position, count),) = plans[0]
                addresses = tuple(index.pools[position].free[:count])
                return HostFit(index, ((work.requests[0].request, addresses),), self.cells)
            return HostFit(index, _assign(work.requests, plans, index.pools), self.cells)
        return HostExplanation(index.name, self.filter_name, self._reasons_for(work))

    def _reasons_for(self, work: Workload) -> tuple[Reason, ...]:
        ids = tuple(request.request.request_id for request in work.requests)
        if ids == self.ids:
            return self.reasons
        renamed = dict(zip(self.ids, ids, strict=True))
        return tuple(_renamed(reason, renamed) for reason in self.reasons)


def _renamed(reason: Reason, renamed: Mapping[str, str]) -> Reason:
    request_id = getattr(reason, "request_id", None)
    if request_id is None or renamed.get(request_id, request_id) == request_id:
        return reason
    replaced: Reason = dataclasses.replace(cast(Any, reason), request_id=renamed[request_id])
    return replaced


def device_verdict(index: HostIndex, work: Workload) -> Verdict:
    """PCI (all requests cumulatively), then NUMA, on a host whose capacity fits."""
    ids = tuple(request.request.request_id for request in work.requests)
    eligible = [request.eligible(index.pools) for request in work.requests]
    plans, reasons = _fit_all(work.requests, eligible, None, index)
    if reasons:
        return Verdict(filter_name="pci", reasons=tuple(reasons), ids=ids)
    cells: tuple[int, ...] = ()
    if work.guest_numa_nodes is not None:
        plans, reasons, cells = _fit_numa(index, work, eligible)
        if reasons:
            return Verdict(filter_name="numa", reasons=tuple(reasons), ids=ids)
    positions = tuple(tuple((pool.position, count) for pool, count in plan) for plan in plans)
    return Verdict(plans=positions, cells=cells)


def capacity_reasons(index: HostIndex, work: Workload) -> list[Reason]:
    host = index.host
    reasons: list[Reason] = []
    free_vcpus = host.vcpus * host.cpu_allocation_ratio - index.vcpus_used
    if free_vcpus < work.vcpus:
        reasons.append(NotEnoughVcpus(free_vcpus, work.vcpus))
    free_mb = host.memory_mb * host.ram_allocation_ratio - index.memory_mb_used
    if free_mb < work.memory_mb:
        reasons.append(NotEnoughMemory(free_mb, work.memory_mb))
    return reasons


def _fit_all(
    requests: Sequence[CompiledRequest],
    eligible: Sequence[list[Pool]],
    cells: frozenset[int] | None,
    index: HostIndex,
) -> tuple[list[Plan], list[Reason]]:
    """Apply every request in order; a failing request takes nothing and is explained."""
    trial = _Trial()
    plans: list[Plan] = []
    reasons: list[Reason] = []
    for request, pools in zip(requests, eligible, strict=True):
        if cells is not None:
            pools = numa_pools(pools, request, cells, trial, index)
        plan = _take(pools, request.request.count, trial)
        if plan is None:
            reasons.append(
                _explain(request, pools, eligible_all=not pools, cells=cells, trial=trial)
            )
            plan = []
        plans.append(plan)
    return plans, reasons


def _take(pools: Sequence[Pool], count: int, trial: _Trial) -> Plan | None:
    plan: Plan = []
    remaining = count
    for pool in pools:
        free = trial.free(pool)
        if free <= 0:
            continue
        taken = min(free, remaining)
        trial.take(pool, taken)
        plan.append((pool, taken))
        remaining -= taken
        if remaining == 0:
            return plan
    trial.undo(plan)
    return None


def _explain(
    request: CompiledRequest,
    pools: Sequence[Pool],
    *,
    eligible_all: bool,
    cells: frozenset[int] | None,
    trial: _Trial,
) -> Reason:
    rid = request.request.request_id
    wanted = request.request.count
    if cells is not None:
        near = sum(max(trial.free(pool), 0) for pool in pools)
        return NumaMismatch(rid, request.target, request.policy, tuple(sorted(cells)), near, wanted)
    if eligible_all:
        return NoMatchingDevice(rid, request.target)
    free = sum(max(trial.free(pool), 0) for pool in pools)
    return NotEnoughFree(
        request_id=rid,
        target=request.target,
        free=free,
        wanted=wanted,
        allocated=sum(pool.total - pool.usable for pool in pools),
        blocked=sum(pool.usable - len(pool.free) for pool in pools),
        taken_by_boot=sum(len(pool.free) for pool in pools) - free,
    )


def numa_pools(
    pools: Sequence[Pool],
    request: CompiledRequest,
    cells: frozenset[int],
    trial: _Trial,
    index: HostIndex,
) -> list[Pool]:
    """Nova's ``_filter_pools_for_numa_cells``: strictest placement that has enough devices."""
    wanted = request.request.count
    policy = request.policy
    local = [pool for pool in pools if pool.numa_node in cells]
    if policy is NumaPolicy.REQUIRED or _free(local, trial) >= wanted:
        return local
    if policy is NumaPolicy.SOCKET:
        return _same_socket(pools, cells, index)
    near = [pool for pool in pools if pool.numa_node is None or pool.numa_node in cells]
    if policy is NumaPolicy.LEGACY or _free(near, trial) >= wanted:
        return near
    return sorted(pools, key=lambda pool: not (pool.numa_node is None or pool.numa_node in cells))


def _same_socket(pools: Sequence[Pool], cells: frozenset[int], index: HostIndex) -> list[Pool]:
    sockets = {index.host.socket_of(cell) for cell in cells}
    if None in sockets:
        return []
    return [
        pool
        for pool in pools
        if pool.numa_node is not None and index.host.socket_of(pool.numa_node) in sockets
    ]


def _free(pools: Sequence[Pool], trial: _Trial) -> int:
    return sum(max(trial.free(pool), 0) for pool in pools)


def _fit_numa(
    index: HostIndex, work: Workload, eligible: Sequence[list[Pool]]
) -> tuple[list[Plan], list[Reason], tuple[int, ...]]:
    """Try the guest on each set of host cells, PCI-richest first, as Nova's NUMA fitting does."""
    wanted = work.guest_numa_nodes or 0
    nodes = index.host.numa_nodes
    if wanted > len(nodes):
        return [], [NotEnoughNumaNodes(wanted, len(nodes))], ()
    richness = _free_per_node({id(p): p for pools in eligible for p in pools}.values())
    ordered = sorted(nodes, key=lambda node: (-richness.get(node, 0), node))
    first_reasons: list[Reason] = []
    for combo in combinations(ordered, wanted):
        plans, reasons = _fit_all(work.requests, eligible, frozenset(combo), index)
        if not reasons:
            return plans, [], tuple(sorted(combo))
        first_reasons = first_reasons or reasons
    return [], first_reasons, ()


def _free_per_node(pools: Iterable[Pool]) -> Mapping[int, int]:
    counts: dict[int, int] = {}
    for pool in pools:
        if pool.numa_node is not None:
            counts[pool.numa_node] = counts.get(pool.numa_node, 0) + len(pool.free)
    return counts


def _assign(
    requests: Sequence[CompiledRequest], plans: Sequence[PositionPlan], pools: Sequence[Pool]
) -> tuple[tuple[PciRequest, tuple[PciAddress, ...]], ...]:
    """Lowest addresses of each planned pool, never the same device twice."""
    offsets: dict[int, int] = {}
    assignments = []
    for request, plan in zip(requests, plans, strict=True):
        addresses: list[PciAddress] = []
        for position, count in plan:
            start = offsets.get(position, 0)
            addresses.extend(pools[position].free[start : start + count])
            offsets[position] = start + count
        assignments.append((request.request, tuple(addresses)))
    return tuple(assignments)
