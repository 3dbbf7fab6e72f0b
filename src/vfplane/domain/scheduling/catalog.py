"""Many hosts, kept between decisions, and which of them could serve which requests.

A cloud of thousands of hosts has only a few hardware layouts and fewer states:
its pools have few distinct *signatures* (their props) and its hosts few
*fingerprints* (everything a fit depends on, see ``HostIndex.fingerprint``).
For each set of requests it has seen, the catalog keeps which hosts have a
usable pool for every request, grouped by fingerprint, and how many lack one;
putting or removing a host updates those sets in place. A decision then
explains the hosts without a usable pool in bulk, and examines one host of a
fingerprint group for the whole group when it does not fit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TypeVar

from vfplane.domain.scheduling.fit import (
    CompiledRequest,
    HostFit,
    Verdict,
    Workload,
    cached_verdict,
    evaluate,
    interned,
)
from vfplane.domain.scheduling.index import HostCandidate, HostIndex, Signature
from vfplane.domain.scheduling.reasons import HostExplanation

FULL_SCAN_HOSTS = 100  # up to this many hosts, every decision examines every host
ENOUGH_FITS = 3  # beyond that, a decision stops after this many fits (Nova: max_attempts = 3)
SHAPES_KEPT = 4096  # candidate sets remembered by request shapes, before starting again
GROUPS_FEW = 8  # candidate sets are built group by group when hosts outnumber groups this much

_Key = TypeVar("_Key", bound=Hashable)
Accepted = tuple[frozenset[Signature], ...]  # per request: the signatures it may use
# a host's index, its changes and verdicts as of ``put``, and its free vCPUs and MB then
_Entry = tuple[HostIndex, int, dict[Hashable, Verdict], float, float]


class Candidates:
    """For one set of requests: ``lacking[i]`` counts hosts that have pools for the requests
    before ``i`` but none for ``i``; ``groups`` holds the hosts with pools for all, by
    fingerprint. Updated host by host."""

    def __init__(self, accepted: Accepted) -> None:
        self.accepted = accepted
        self.lacking = [0] * len(accepted)
        self.groups: dict[Hashable, list[str]] = {}
        self._slots: dict[str, int] | None = {}  # None until a removal needs positions
        self._orders: dict[Hashable, list[list[str]]] = {}  # until a group comes or goes

    def ordered(
        self, how: Hashable, key: Callable[[list[str]], float], reverse: bool
    ) -> list[list[str]]:
        """The groups sorted by ``key`` (named by ``how``), kept until a group comes or goes:
        members of a group have equal fingerprints, so any member stands for its group."""
        found = self._orders.get(how)
        if found is None:
            found = self._orders[how] = sorted(self.groups.values(), key=key, reverse=reverse)
        return found

    @classmethod
    def build(
        cls, accepted: Accepted, total: int, by_signature: dict[Signature, set[str]],
        groups: dict[Hashable, set[str]],
    ) -> Candidates:  # fmt: skip
        """From the catalog's own sets, with set operations rather than host by host."""
        found = cls(accepted)
        current: set[str] | None = None  # None: every host, without copying them all
        for i, signatures in enumerate(accepted):
            usable: set[str] = set().union(*(by_signature.get(s, ()) for s in signatures))
            if current is not None:
                usable &= current
            found.lacking[i] = (total if current is None else len(current)) - len(usable)
            current = usable
        for fingerprint, members in groups.items():
            present = list(members if current is None else members & current)
            if present:
                found.groups[fingerprint] = present
        found._slots = None
        return found

    @classmethod
    def build_by_group(
        cls, accepted: Accepted, groups: dict[Hashable, set[str]],
        signatures_of: dict[str, frozenset[Signature]],
    ) -> Candidates:  # fmt: skip
        """The same, a fingerprint group at a time: the members of a group have equal pools,
        so one member's pools decide for all (cheaper when groups are few)."""
        found = cls(accepted)
        for fingerprint, members in groups.items():
            lacking = found.first_lacking(signatures_of[next(iter(members))])
            if lacking is None:
                found.groups[fingerprint] = list(members)
            else:
                found.lacking[lacking] += len(members)
        found._slots = None
        return found

    def first_lacking(self, signatures: frozenset[Signature]) -> int | None:
        return next((i for i, ok in enumerate(self.accepted) if not ok & signatures), None)

    def add(self, name: str, signatures: frozenset[Signature], fingerprint: Hashable) -> None:
        lacking = self.first_lacking(signatures)
        if lacking is not None:
            self.lacking[lacking] += 1
            return
        group = self.groups.get(fingerprint)
        if group is None:
            group = self.groups[fingerprint] = []
            self._orders.clear()
        if self._slots is not None:
            self._slots[name] = len(group)
        group.append(name)

    def discard(self, name: str, signatures: frozenset[Signature], fingerprint: Hashable) -> None:
        lacking = self.first_lacking(signatures)
        if lacking is not None:
            self.lacking[lacking] -= 1
            return
        if self._slots is None:
            self._slots = {n: i for group in self.groups.values() for i, n in enumerate(group)}
        group, slot = self.groups[fingerprint], self._slots.pop(name)
        last = group.pop()
        if last != name:  # move the last member into the freed slot
            group[slot], self._slots[last] = last, slot
        if not group:
            del self.groups[fingerprint]
            self._orders.clear()


class HostCatalog:
    """Host indexes by name, with the candidate sets of the requests seen so far.

    An index put here is a snapshot: change a host by putting a new index for it.
    """

    def __init__(self, hosts: Iterable[HostIndex | HostCandidate] = (), seed: int | None = None):
        self._hosts: dict[str, HostIndex] = {}
        self._signatures: dict[str, frozenset[Signature]] = {}
        self._fingerprints: dict[str, Hashable] = {}
        self._known: set[Signature] = set()
        self._by_signature: dict[Signature, set[str]] = {}
        self._groups: dict[Hashable, set[str]] = {}
        self._candidates: dict[Accepted, Candidates] = {}
        self._by_shapes: dict[Hashable, Candidates] = {}  # the same, by the requests' shapes
        self._verdicts: dict[Hashable, dict[Hashable, Verdict]] = {}  # by fingerprint
        self._verdicts_of: dict[str, _Entry] = {}  # by name
        self._random = random.Random(seed)
        for host in hosts:
            self.put(host)

    def __len__(self) -> int:
        return len(self._hosts)

    def __iter__(self) -> Iterator[HostIndex]:
        return iter(self._hosts.values())

    def __contains__(self, name: object) -> bool:
        return name in self._hosts

    def get(self, name: str) -> HostIndex:
        return self._hosts[name]

    def put(self, host: HostIndex | HostCandidate) -> None:
        """Add a host, or replace the index of one already here (after its devices changed)."""
        index = host if isinstance(host, HostIndex) else HostIndex(host)
        name = index.name
        self.remove(name)
        signatures = frozenset(pool.signature for pool in index.pools)
        if not signatures <= self._known:  # a new kind of pool: requests may accept it
            self._known |= signatures
            self._candidates.clear()
            self._by_shapes.clear()
        self._hosts[name], self._signatures[name] = index, signatures
        fingerprint = self._fingerprints[name] = index.fingerprint()
        self._groups.setdefault(fingerprint, set()).add(name)
        verdicts = self._verdicts.setdefault(fingerprint, {})
        host = index.host
        self._verdicts_of[name] = (
            index, index.changes, verdicts,
            host.vcpus * host.cpu_allocation_ratio - index.vcpus_used,
            host.memory_mb * host.ram_allocation_ratio - index.memory_mb_used,
        )  # fmt: skip
        for signature in signatures:
            self._by_signature.setdefault(signature, set()).add(name)
        for found in self._candidates.values():
            found.add(name, signatures, fingerprint)

    def remove(self, name: str) -> None:
        if self._hosts.pop(name, None) is None:
            return
        signatures, fingerprint = self._signatures.pop(name), self._fingerprints.pop(name)
        del self._verdicts_of[name]
        _discard(self._groups, fingerprint, name)
        if fingerprint not in self._groups:
            del self._verdicts[fingerprint]
        for signature in signatures:
            _discard(self._by_signature, signature, name)
        for found in self._candidates.values():
            found.discard(name, signatures, fingerprint)

    def candidates(self, requests: Sequence[CompiledRequest]) -> Candidates:
        """The hosts with a pool (free or not) for every request, and counts of those without."""
        shapes = tuple([r.shape for r in requests])
        cached = interned(requests)
        found = self._by_shapes.get(shapes) if cached else None
        if found is not None:
            return found
        key = tuple(frozenset(s for s in self._known if r.accepts(s)) for r in requests)
        found = self._candidates.get(key)
        if found is None and len(self._groups) * GROUPS_FEW <= len(self._hosts):
            found = Candidates.build_by_group(key, self._groups, self._signatures)
        elif found is None:
            found = Candidates.build(key, len(self._hosts), self._by_signature, self._groups)
        self._candidates[key] = found
        if cached:
            if len(self._by_shapes) >= SHAPES_KEPT:
                self._by_shapes.clear()
            self._by_shapes[shapes] = found
        return found

    def evaluate(self, name: str, work: Workload) -> HostFit | HostExplanation:
        """``fit.evaluate`` of a host, with the verdicts of its fingerprint group (not when
        its index was changed in place since it was put here)."""
        index, changes, verdicts, free_vcpus, free_mb = self._verdicts_of[name]
        if changes != index.changes:
            return evaluate(index, work)
        if work.key is None or free_vcpus < work.vcpus or free_mb < work.memory_mb:
            return evaluate(index, work, verdicts)  # which explains a capacity refusal
        return cached_verdict(index, work, verdicts)  # capacity as of ``put``: it fits

    def start(self, size: int) -> int:
        """Where a scan begins, so that decisions spread over equal hosts: ``randrange(size)``
        (the same draws), without its argument checks."""
        if size <= 0:
            return 0
        bits, draw = size.bit_length(), self._random.getrandbits
        found = draw(bits)
        while found >= size:
            found = draw(bits)
        return found


def _discard(sets: dict[_Key, set[str]], key: _Key, name: str) -> None:
    members = sets[key]
    members.discard(name)
    if not members:
        del sets[key]
