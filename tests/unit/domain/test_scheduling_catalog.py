"""The host catalog: large clouds decided from candidate sets and fingerprint groups.

Every verdict must equal a full scan's: the same fit or no fit, a chosen host
that really fits, and a refusal that accounts for every host with true reasons.
A host with no pool at all for some request is explained by that, where a full
scan may name an earlier request's shortage first.
"""

from __future__ import annotations

import random

import pytest
from tests.unit.domain.test_scheduling import addr, boot, host, nic, port

from vfplane.domain.alias import NumaPolicy
from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.scheduling import (
    Decision,
    HostCandidate,
    HostCatalog,
    HostIndex,
    NoMatchingDevice,
    schedule,
)
from vfplane.domain.scheduling.catalog import FULL_SCAN_HOSTS, GROUPS_FEW, Candidates
from vfplane.domain.scheduling.decide import InstanceRequest
from vfplane.domain.scheduling.fit import CompiledRequest, HostFit, Workload, evaluate

PHYSNETS = ("physnet1", "physnet2", "physnet3")


def _cloud(hosts: int, seed: int) -> list[HostCandidate]:
    """Hosts of two layouts, some VFs in use, so that fingerprints repeat but not always."""
    rng = random.Random(seed)
    cloud = []
    for n in range(hosts):
        first, second = PHYSNETS[n % 2], PHYSNETS[2] if n % 3 == 0 else PHYSNETS[n % 2]
        in_use = dict.fromkeys(range(rng.choice([0, 0, 2, 4])), DeviceStatus.ALLOCATED)
        devices = [*nic(0x3B, 4, physnet=first, numa=0, vf_status=in_use),
                   *nic(0xAF, 4, physnet=second, numa=1)]  # fmt: skip
        cloud.append(host(f"h{n:04d}", devices, vcpus=64, memory_mb=262144))
    return cloud


def _requests(seed: int) -> list[InstanceRequest]:
    rng = random.Random(seed)
    found = []
    for _ in range(60):
        ports = [port(rng.choice([*PHYSNETS, "physnet9"])) for _ in range(rng.choice([1, 1, 2]))]
        policy = rng.choice([None, NumaPolicy.REQUIRED, NumaPolicy.PREFERRED])
        numa = rng.choice([None, None, 1])
        found.append(boot(*ports, numa_policy=policy, guest_numa_nodes=numa))
    found.append(boot(*[port("physnet1") for _ in range(6)]))  # more than any host has
    return found


def _fits(candidate_host: HostIndex, request: InstanceRequest) -> bool:
    decision = schedule(request, [candidate_host])
    return decision.fits


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_large_catalog_decides_as_a_full_scan(seed: int) -> None:
    cloud = _cloud(FULL_SCAN_HOSTS + 150, seed)
    catalog = HostCatalog(cloud, seed=seed)
    indexes = {h.name: HostIndex(h) for h in cloud}
    for request in _requests(seed):
        sampled = schedule(request, catalog)
        full = schedule(request, list(indexes.values()))
        assert sampled.fits == full.fits, full.summary
        if full.fits:
            chosen = sampled.placements[0]
            assert _fits(indexes[chosen.host], request)
            assert len(sampled.candidates) <= 8  # the sample, not the cloud, was weighed
        else:
            _assert_same_hosts_true_reasons(sampled, full)


def _assert_same_hosts_true_reasons(sampled: Decision, full: Decision) -> None:
    assert sampled.summary.split(":")[0] == full.summary.split(":")[0]  # "250 hosts"
    lacking = {}
    for explanation in full.rejected:
        for reason in explanation.reasons:
            if isinstance(reason, NoMatchingDevice):
                lacking[reason.request_id] = lacking.get(reason.request_id, 0) + 1
    for reason, hosts in sampled.bulk:
        if isinstance(reason, NoMatchingDevice):
            assert hosts <= lacking[reason.request_id]


def test_a_refusal_names_every_host_once_and_examines_one_per_group() -> None:
    cloud = [host(f"h{n}", nic(0x3B, 2, physnet="physnet1")) for n in range(FULL_SCAN_HOSTS + 50)]
    cloud += [host(f"x{n}", nic(0x3B, 2, physnet="physnet2")) for n in range(50)]
    decision = schedule(boot(port("physnet1"), port("physnet1"), port("physnet1")),
                        HostCatalog(cloud, seed=1))  # fmt: skip
    assert not decision.fits
    assert len(decision.rejected) == 1  # one physnet1 host stood for its 149 equals
    assert decision.summary == (
        "200 hosts: 150 have 0 free VFs on physnet1 (2 used up by other requests of this boot); "
        "50 have no device on physnet1"
    )
    bulk = [entry for entry in decision.explain() if "hosts" in entry]
    assert {entry["hosts"] for entry in bulk} == {149, 50}


def test_putting_a_changed_host_updates_the_candidates_in_place() -> None:
    cloud = [host(f"h{n}", nic(0x3B, 1, physnet="physnet1")) for n in range(FULL_SCAN_HOSTS + 1)]
    catalog = HostCatalog(cloud, seed=1)
    request = boot(port("physnet1"))
    for taken in range(len(cloud)):
        decision = schedule(request, catalog)
        assert decision.fits, decision.summary
        chosen = catalog.get(decision.placements[0].host).clone()
        chosen.take(decision.placements[0].addresses)
        catalog.put(chosen)  # as the service does after a claim
        assert taken < len(cloud)
    full = schedule(request, catalog)
    assert not full.fits
    assert full.summary.startswith(f"{len(cloud)} hosts: {len(cloud)} have 0 free VFs")
    catalog.remove("h0")
    assert len(catalog) == len(cloud) - 1
    assert schedule(request, catalog).summary.startswith(f"{len(cloud) - 1} hosts")


def test_a_new_kind_of_pool_becomes_a_candidate() -> None:
    cloud = [host(f"h{n}", nic(0x3B, 2, physnet="physnet1")) for n in range(FULL_SCAN_HOSTS + 1)]
    catalog = HostCatalog(cloud, seed=1)
    assert not schedule(boot(port("physnet7")), catalog).fits
    catalog.put(host("late", nic(0x5E, 2, physnet="physnet7")))
    decision = schedule(boot(port("physnet7")), catalog)
    assert [c.host for c in decision.placements] == ["late"]
    assert decision.placements[0].addresses == (addr(0x5E, 2, 0),)


def test_small_catalogs_are_scanned_whole() -> None:
    cloud = [host(f"h{n}", nic(0x3B, 2)) for n in range(FULL_SCAN_HOSTS)]
    decision = schedule(boot(port()), HostCatalog(cloud))
    assert len(decision.candidates) == FULL_SCAN_HOSTS
    assert decision.skipped == 0


def test_fingerprints_ignore_names_but_not_free_devices() -> None:
    one, two = HostIndex(host("a", nic(0x3B, 2))), HostIndex(host("b", nic(0x3B, 2)))
    assert one.fingerprint() == two.fingerprint()
    two.take([addr(0x3B, 2, 0)])
    assert one.fingerprint() != two.fingerprint()
    work = Workload(1, 1, (), None)
    assert isinstance(evaluate(one, work), HostFit)


@pytest.mark.parametrize("seed", range(4))
def test_candidate_sets_by_group_equal_those_by_host_sets(seed: int) -> None:
    catalog = HostCatalog(_cloud(FULL_SCAN_HOSTS + 150, seed), seed=seed)
    hosts = {index.name: index for index in catalog}
    groups: dict[object, set[str]] = {}
    signatures = {}
    by_signature: dict[object, set[str]] = {}
    for name, index in hosts.items():
        groups.setdefault(index.fingerprint(), set()).add(name)
        signatures[name] = frozenset(pool.signature for pool in index.pools)
        for signature in signatures[name]:
            by_signature.setdefault(signature, set()).add(name)
    assert len(groups) * GROUPS_FEW <= len(hosts)  # the catalog itself builds by group
    for request in _requests(seed):
        compiled = tuple(CompiledRequest.of(r, None) for r in request.pci_requests)
        accepted = catalog.candidates(compiled).accepted
        by_group = Candidates.build_by_group(accepted, groups, signatures)
        by_sets = Candidates.build(accepted, len(hosts), by_signature, groups)  # type: ignore[arg-type]
        assert by_group.lacking == by_sets.lacking
        assert {k: sorted(v) for k, v in by_group.groups.items()} == {
            k: sorted(v) for k, v in by_sets.groups.items()
        }


def test_a_large_catalog_gives_as_many_fits_as_asked() -> None:
    cloud = [host(f"h{n}", nic(0x3B, 2, physnet="physnet1")) for n in range(FULL_SCAN_HOSTS + 50)]
    request = boot(port("physnet1"))
    assert len(schedule(request, HostCatalog(cloud, seed=1)).candidates) == 3  # Nova's max_attempts
    wide = schedule(request, HostCatalog(cloud, seed=1), enough=12)
    assert len(wide.candidates) == 12
    assert len({c.host for c in wide.candidates}) == 12
