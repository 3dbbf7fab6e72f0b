"""Filter and weigh hosts for one boot request; the result says where and why not."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from vfplane.domain.alias import NumaPolicy
from vfplane.domain.pci import PciAddress
from vfplane.domain.requests import PciRequest
from vfplane.domain.scheduling.catalog import (
    ENOUGH_FITS,
    FULL_SCAN_HOSTS,
    Candidates,
    HostCatalog,
)
from vfplane.domain.scheduling.fit import CompiledRequest, HostFit, Workload, evaluate
from vfplane.domain.scheduling.index import HostCandidate, HostIndex
from vfplane.domain.scheduling.reasons import HostExplanation, NoMatchingDevice, Reason, summarise
from vfplane.errors import InvalidInput

PCI_WEIGHER_MAX_DEVS = 100


@dataclass(frozen=True, slots=True)
class InstanceRequest:
    """One instance to boot.

    ``numa_policy`` (the flavor's or image's) applies to PCI requests without a
    policy of their own. ``guest_numa_nodes`` is ``None`` for a guest without a
    NUMA topology, which gets no NUMA filtering at all (as in Nova).
    """

    vcpus: int
    memory_mb: int
    pci_requests: Sequence[PciRequest] = ()
    numa_policy: NumaPolicy | None = None
    guest_numa_nodes: int | None = None

    def __post_init__(self) -> None:
        if self.guest_numa_nodes is not None and self.guest_numa_nodes < 1:
            raise InvalidInput(f"guest_numa_nodes must be at least 1, got {self.guest_numa_nodes}")
        ids = [request.request_id for request in self.pci_requests]
        if len(set(ids)) != len(ids):
            raise InvalidInput(f"PCI request ids must be unique, got {ids}")
        for request in self.pci_requests:
            if request.count < 1 or not request.specs:
                raise InvalidInput(
                    f"PCI request {request.request_id} needs a count of at least 1 and "
                    f"at least one spec (count {request.count}, {len(request.specs)} specs)"
                )


@dataclass(frozen=True, slots=True)
class WeigherConfig:
    """Multipliers of the weighers; a negative one reverses a weigher."""

    ram_multiplier: float = 1.0
    pci_multiplier: float = 1.0


_DEFAULT_WEIGHERS = WeigherConfig()
_NAME = attrgetter("index.host.name")


@dataclass(frozen=True, slots=True)
class Assignment:
    """The devices one request would take on a host, lowest address first."""

    request_id: str
    requester_id: str | None
    alias_name: str | None
    addresses: tuple[PciAddress, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A host that fits, its weight, and the devices the claim should try."""

    host: str
    weight: float
    assignments: tuple[Assignment, ...]
    numa_cells: tuple[int, ...] = ()  # host NUMA nodes for the guest; empty without topology

    @property
    def addresses(self) -> tuple[PciAddress, ...]:
        return tuple(a for assignment in self.assignments for a in assignment.addresses)


class Decision:
    """Hosts that fit (best first), hosts that do not (with reasons), and placements.

    ``placements`` has one candidate per instance of a multi-create, each chosen
    after the previous ones consumed their host's resources; it is shorter than
    ``count`` when the hosts run out, and then ``rejected`` also explains the
    hosts that filled up (a host can be both a candidate and rejected).

    Over a large :class:`HostCatalog`, ``bulk`` explains the hosts without a
    usable pool by count, and ``skipped`` counts candidates not examined because
    enough others fit.

    Read-only. The devices of every candidate are chosen when the decision is made;
    the ``Candidate`` objects, and the reasons of ``bulk``, are built on first access.
    """

    __slots__ = (
        "_bulk", "_candidates", "_groups_bulk", "_lacking", "_placements", "_ranked", "_requests",
        "count", "rejected", "skipped",
    )  # fmt: skip

    def __init__(
        self, ranked: Sequence[tuple[HostFit, float]], rejected: tuple[HostExplanation, ...],
        count: int, *, placements: tuple[Candidate, ...] | None = None,
        candidates: tuple[Candidate, ...] | None = None, bulk: Sequence[tuple[Reason, int]] = (),
        lacking: Sequence[tuple[CompiledRequest, int]] = (), skipped: int = 0,
    ) -> None:  # fmt: skip
        """``placements`` ``None``: the best candidate alone (``count`` is 1); ``lacking``:
        requests and how many hosts have no pool for them, before the reasons of ``bulk``."""
        self._ranked = ranked
        self._candidates = candidates
        self._placements = placements
        self._lacking = lacking
        self._groups_bulk = bulk
        self._bulk: tuple[tuple[Reason, int], ...] | None = None if lacking else tuple(bulk)
        self.rejected = rejected
        self.count = count
        self.skipped = skipped

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        found = self._candidates
        if found is None:
            found = self._candidates = tuple([_candidate(f, w) for f, w in self._ranked])
        return found

    @property
    def placements(self) -> tuple[Candidate, ...]:
        found = self._placements
        if found is None:
            found = self._placements = self.candidates[:1]
        return found

    @property
    def bulk(self) -> tuple[tuple[Reason, int], ...]:
        found = self._bulk
        if found is None:
            lacking = [(NoMatchingDevice(r.request.request_id, r.target), n)
                       for r, n in self._lacking]  # fmt: skip
            found = self._bulk = (*lacking, *self._groups_bulk)
        return found

    @property
    def fits(self) -> bool:
        if self._placements is None:
            return min(len(self._ranked), 1) == self.count
        return len(self._placements) == self.count

    @property
    def summary(self) -> str:
        return summarise(self.rejected, self.bulk)

    def explain(self) -> list[dict[str, object]]:
        found = [explanation.as_dict() for explanation in self.rejected]
        for reason, hosts in self.bulk:
            found.append({"host": f"({hosts} hosts)", "hosts": hosts,
                          "filter": reason.filter_name, "message": reason.phrase(),
                          "reasons": [reason.as_dict()]})  # fmt: skip
        return found

    def __repr__(self) -> str:
        return (f"Decision(candidates={self.candidates!r}, rejected={self.rejected!r}, "
                f"placements={self.placements!r}, count={self.count}, bulk={self.bulk!r}, "
                f"skipped={self.skipped})")  # fmt: skip


def schedule(
    request: InstanceRequest,
    hosts: Iterable[HostCandidate | HostIndex] | HostCatalog,
    count: int = 1,
    *,
    weighers: WeigherConfig | None = None,
    enough: int = ENOUGH_FITS,
) -> Decision:
    """Filter (capacity, PCI, NUMA) and weigh ``hosts`` for ``count`` such instances.

    ``HostIndex`` arguments are read, never changed; multi-create works on copies.
    A :class:`HostCatalog` of more than ``FULL_SCAN_HOSTS`` hosts is sampled, until
    ``enough`` hosts (or ``count``) fit.
    """
    if count < 1:
        raise InvalidInput(f"count must be at least 1, got {count}")
    weighers = weighers or _DEFAULT_WEIGHERS
    policy = request.numa_policy
    work = Workload.of(
        request.vcpus,
        request.memory_mb,
        tuple([CompiledRequest.of(r, policy) for r in request.pci_requests]),
        request.guest_numa_nodes,
    )
    if isinstance(hosts, HostCatalog) and len(hosts) > FULL_SCAN_HOSTS:
        return _sampled(work, hosts, count, weighers, enough)
    if isinstance(hosts, HostCatalog):  # explained in name order, as a list of hosts would be
        hosts = sorted(hosts, key=lambda index: index.name)
    fits: dict[str, HostFit] = {}
    rejected: dict[str, HostExplanation] = {}
    for host in hosts:
        index = host if isinstance(host, HostIndex) else HostIndex(host)
        _examine(index, work, fits, rejected)
    return _decide(work, fits, rejected, count, weighers)


def _examine(
    index: HostIndex, work: Workload, fits: dict[str, HostFit],
    rejected: dict[str, HostExplanation],
) -> None:  # fmt: skip
    result = evaluate(index, work)
    if isinstance(result, HostFit):
        fits[index.name] = result
    else:
        rejected[index.name] = result


def _decide(
    work: Workload, fits: dict[str, HostFit], rejected: dict[str, HostExplanation], count: int,
    weighers: WeigherConfig, bulk: Sequence[tuple[Reason, int]] = (),
    lacking: Sequence[tuple[CompiledRequest, int]] = (), skipped: int = 0,
) -> Decision:  # fmt: skip
    if not fits:
        return Decision((), tuple(rejected.values()), count, placements=(), bulk=bulk,
                        lacking=lacking, skipped=skipped)  # fmt: skip
    ranked = _ranked(list(fits.values()), work, weighers)
    if count == 1:
        return Decision(ranked, tuple(rejected.values()), count, bulk=bulk, lacking=lacking,
                        skipped=skipped)  # fmt: skip
    candidates = tuple([_candidate(fit, weight) for fit, weight in ranked])
    placements = _place(candidates, fits, rejected, work, weighers, count)
    return Decision(ranked, tuple(rejected.values()), count, placements=placements,
                    candidates=candidates, bulk=bulk, lacking=lacking, skipped=skipped)  # fmt: skip


def _sampled(
    work: Workload, catalog: HostCatalog, count: int, weighers: WeigherConfig, wanted: int
) -> Decision:
    """Hosts without a usable pool are explained in bulk; of each fingerprint group one host is
    examined, and a group that fits gives hosts until ``wanted`` (or ``count``) fit: by
    default the best and two alternates."""
    found = catalog.candidates(work.requests)
    lacking: list[tuple[CompiledRequest, int]] = []
    if any(found.lacking):
        lacking = [(r, n) for r, n in zip(work.requests, found.lacking, strict=True) if n]
    enough = max(wanted, count)
    fits: dict[str, HostFit] = {}
    rejected: dict[str, HostExplanation] = {}
    bulk: list[tuple[Reason, int]] = []
    skipped = 0
    evaluate_host = catalog.evaluate
    for group in _group_order(found, work, weighers, catalog):
        if len(fits) >= enough:
            skipped += len(group)
            continue
        size = len(group)
        start = catalog.start(size)
        first = group[start]
        result = evaluate_host(first, work)
        if not isinstance(result, HostFit):
            rejected[first] = result
            if size > 1:
                bulk.append((result.reasons[0], size - 1))
            continue
        fits[first] = result
        examined = 1
        while examined < size and len(fits) < enough:
            name = group[(start + examined) % size]
            result = evaluate_host(name, work)
            if isinstance(result, HostFit):
                fits[name] = result
            else:
                rejected[name] = result
            examined += 1
        skipped += size - examined
    return _decide(work, fits, rejected, count, weighers, bulk, lacking, skipped)


def _group_order(
    found: Candidates, work: Workload, weighers: WeigherConfig, catalog: HostCatalog
) -> list[list[str]]:
    """Groups as the weighers lean: fewest free devices first for PCI users (packing, unless
    the multiplier is negative), most free RAM first for the rest (spreading)."""
    if work.requests:
        reverse = weighers.pci_multiplier < 0
        return found.ordered(("pci", reverse), lambda group: catalog.get(group[0]).free_devices,
                             reverse)  # fmt: skip

    def free_ram(group: list[str]) -> int:
        index = catalog.get(group[0])
        return index.host.memory_mb - index.memory_mb_used

    reverse = weighers.ram_multiplier >= 0
    return found.ordered(("ram", reverse), free_ram, reverse)


def _place(
    candidates: tuple[Candidate, ...],
    fits: dict[str, HostFit],
    rejected: dict[str, HostExplanation],
    work: Workload,
    weighers: WeigherConfig,
    count: int,
) -> tuple[Candidate, ...]:
    """Pick the best host per instance, consuming on a private copy of the chosen host."""
    if not candidates:
        return ()
    placements = [candidates[0]]
    copies: set[str] = set()
    while len(placements) < count:
        chosen = placements[-1]
        fit = fits[chosen.host]
        index = fit.index if chosen.host in copies else fit.index.clone()
        copies.add(chosen.host)
        index.take(chosen.addresses, vcpus=work.vcpus, memory_mb=work.memory_mb)
        result = evaluate(index, work)
        if isinstance(result, HostFit):
            fits[chosen.host] = result
        else:
            del fits[chosen.host]
            rejected[chosen.host] = result
        best = _best(list(fits.values()), work, weighers)
        if best is None:
            break
        placements.append(best)
    return tuple(placements)


def rank(fits: Sequence[HostFit], work: Workload, weighers: WeigherConfig) -> list[Candidate]:
    """Weigh and order: RAM spreads every instance, the PCI weigher packs PCI users.

    Each weigher's values are normalised to 0..1 over the hosts (as Nova does),
    multiplied and summed; equal weights are ordered by host name.
    """
    return [_candidate(fit, weight) for fit, weight in _ranked(fits, work, weighers)]


def _ranked(
    fits: Sequence[HostFit], work: Workload, weighers: WeigherConfig
) -> list[tuple[HostFit, float]]:
    """``rank`` without building the candidates."""
    if len(fits) > 1 and _alike(fits):  # equal weights (see _scores): by name alone
        weight = _flat(work, weighers)
        return [(fit, weight) for fit in sorted(fits, key=_NAME)]
    scores = _scores(fits, work, weighers)
    if len(set(scores)) == 1:  # equal weights: by name alone
        names = [fit.index.name for fit in fits]
        order = sorted(range(len(fits)), key=names.__getitem__)
    else:
        order = sorted(range(len(fits)), key=lambda i: (-scores[i], fits[i].index.name))
    return [(fits[i], scores[i]) for i in order]


def _best(fits: Sequence[HostFit], work: Workload, weighers: WeigherConfig) -> Candidate | None:
    if not fits:
        return None
    scores = _scores(fits, work, weighers)
    best = min(range(len(fits)), key=lambda i: (-scores[i], fits[i].index.name))
    return _candidate(fits[best], scores[best])


def _scores(fits: Sequence[HostFit], work: Workload, weighers: WeigherConfig) -> list[float]:
    if _alike(fits):  # equal hosts (one fingerprint): every weigher normalises to 0
        return [_flat(work, weighers)] * len(fits)
    ram = [float(f.index.host.memory_mb - f.index.memory_mb_used) for f in fits]
    if not work.requests:
        return [weighers.ram_multiplier * value for value in _normalise(ram)]
    most = PCI_WEIGHER_MAX_DEVS - 1
    pci = [float(PCI_WEIGHER_MAX_DEVS - (n if n < most else most))
           for n in [f.index.free_devices for f in fits]]  # fmt: skip
    ram_multiplier, pci_multiplier = weighers.ram_multiplier, weighers.pci_multiplier
    return [
        ram_multiplier * a + pci_multiplier * b
        for a, b in zip(_normalise(ram), _normalise(pci), strict=True)
    ]


def _flat(work: Workload, weighers: WeigherConfig) -> float:
    """The weight of every host when all are equal (each weigher normalised to 0)."""
    if not work.requests:
        return weighers.ram_multiplier * 0.0
    return weighers.ram_multiplier * 0.0 + weighers.pci_multiplier * 0.0


def _alike(fits: Sequence[HostFit]) -> bool:
    """Whether every host has the free RAM and free devices of the first."""
    first = fits[0].index
    ram, devices = first.host.memory_mb - first.memory_mb_used, first.free_devices
    for fit in fits:
        index = fit.index
        if index.host.memory_mb - index.memory_mb_used != ram or index.free_devices != devices:
            return False
    return True


def _normalise(values: Sequence[float]) -> list[float]:
    if not values:
        return []
    low, high = min(values), max(values)
    if high == low:
        return [0.0] * len(values)
    return [(value - low) / (high - low) for value in values]


def _candidate(fit: HostFit, weight: float) -> Candidate:
    made: tuple[Assignment, ...]
    if len(fit.assignments) == 1:  # the common case, without a generator
        ((request, addresses),) = fit.assignments
        made = (
            Assignment(request.request_id, request.requester_id, request.alias_name, addresses),
        )
    else:
        made = tuple(
            Assignment(r.request_id, r.requester_id, r.alias_name, addresses)
            for r, addresses in fit.assignments
        )
    return Candidate(fit.index.name, weight, made, fit.numa_cells)
