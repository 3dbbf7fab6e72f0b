"""The verdict cache of a large catalog: hosts of one fingerprint share the PCI and NUMA
outcome of a request shape, and a host that changes never gets a stale one."""

from __future__ import annotations

import dataclasses

from tests.unit.domain.test_scheduling import addr, boot, host, nic, port

from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.scheduling import (
    HostCatalog,
    HostIndex,
    NotEnoughFree,
    schedule,
)
from vfplane.domain.scheduling.catalog import FULL_SCAN_HOSTS
from vfplane.domain.scheduling.fit import CompiledRequest, HostFit, Workload

HOSTS = FULL_SCAN_HOSTS + 20  # large enough to be sampled, with its verdict cache


def _catalog(taken: int = 0) -> HostCatalog:
    """Hosts of one layout: one NIC of 4 VFs on physnet1, the first ``taken`` VFs in use."""
    in_use = dict.fromkeys(range(taken), DeviceStatus.ALLOCATED)
    return HostCatalog(
        (host(f"h{n:04d}", nic(0x3B, 4, vf_status=in_use)) for n in range(HOSTS)), seed=1
    )


def _work(request_count: int, catalog_vcpus: int = 2) -> Workload:
    request = boot(*[port() for _ in range(request_count)], vcpus=catalog_vcpus)
    compiled = tuple(CompiledRequest.of(r, None) for r in request.pci_requests)
    return Workload.of(request.vcpus, request.memory_mb, compiled, None)


def _claimed(index: HostIndex, vfs: range) -> HostIndex:
    devices = tuple(
        dataclasses.replace(d, status=DeviceStatus.ALLOCATED)
        if d.parent_addr is not None and d.address.function in vfs and d.address.slot == 2
        else d
        for d in index.host.devices
    )
    return index.updated(dataclasses.replace(index.host, devices=devices))


def test_a_host_put_again_after_claims_is_not_served_the_verdict_of_its_old_state() -> None:
    catalog = _catalog()
    assert schedule(boot(port(), port()), catalog).fits  # caches "fits" for two VFs
    for index in list(catalog):
        catalog.put(_claimed(index, range(3)))  # one VF left on every host
    decision = schedule(boot(port(), port()), catalog)
    assert not decision.fits
    reason = decision.rejected[0].reasons[0]
    assert isinstance(reason, NotEnoughFree)
    assert (reason.free, reason.taken_by_boot, reason.allocated) == (0, 1, 3)


def test_a_host_freed_again_fits_although_its_old_state_was_refused() -> None:
    catalog = _catalog(taken=4)
    assert not schedule(boot(port()), catalog).fits  # caches the refusal
    for index in list(catalog):
        catalog.put(index.updated(host(index.name, nic(0x3B, 4))))
    assert schedule(boot(port()), catalog).fits


def test_a_host_changed_in_place_is_evaluated_afresh() -> None:
    catalog = _catalog()
    work = _work(2)
    assert isinstance(catalog.evaluate("h0000", work), HostFit)
    catalog.get("h0000").take([addr(0x3B, 2, 0), addr(0x3B, 2, 1), addr(0x3B, 2, 2)])
    assert not isinstance(catalog.evaluate("h0000", work), HostFit)
    assert isinstance(catalog.evaluate("h0001", work), HostFit)  # its group still fits


def test_hosts_sharing_a_verdict_are_given_their_own_free_addresses() -> None:
    catalog = _catalog()
    for n, index in enumerate(list(catalog)):  # equal fingerprints, different free VFs
        catalog.put(_claimed(index, range(n % 4, n % 4 + 1)))
    for _ in range(5):
        decision = schedule(boot(port()), catalog)
        assert len(decision.candidates) == 3
        for candidate in decision.candidates:
            index = catalog.get(candidate.host)
            assert all(index.is_free(a) for a in candidate.addresses), candidate
            assert candidate.addresses == tuple(index.pools[1].free[:1])


def test_a_refusal_served_from_the_cache_names_the_requests_of_its_own_boot() -> None:
    catalog = _catalog(taken=4)
    for _ in range(3):
        request = boot(port(), port())
        ids = {r.request_id for r in request.pci_requests}
        decision = schedule(request, catalog)
        named = {getattr(r, "request_id", None) for e in decision.rejected for r in e.reasons}
        named |= {getattr(r, "request_id", None) for r, _ in decision.bulk}
        assert named
        assert named <= ids, (named, ids)


def test_a_capacity_refusal_is_not_cached_with_the_device_verdict() -> None:
    catalog = _catalog()
    assert schedule(boot(port(), vcpus=64), catalog).fits is False  # 32 vCPUs per host
    assert schedule(boot(port(), vcpus=2), catalog).fits


def test_a_decision_keeps_the_devices_chosen_when_it_was_made() -> None:
    catalog = _catalog()
    decision = schedule(boot(port()), catalog)  # its candidates are built on first access
    for index in list(catalog):
        index.take([index.pools[1].free[0]])  # in place, after the decision
    for candidate in decision.candidates:
        assert candidate.addresses == (addr(0x3B, 2, 0),)
        assert not catalog.get(candidate.host).is_free(candidate.addresses[0])


def test_a_host_that_used_up_its_vcpus_in_place_is_refused_afresh() -> None:
    catalog = _catalog()
    assert schedule(boot(port(), vcpus=2), catalog).fits
    for index in list(catalog):
        index.take([], vcpus=31)  # 32 vCPUs per host: one left
    decision = schedule(boot(port(), vcpus=2), catalog)
    assert not decision.fits
    assert decision.rejected[0].filter_name == "compute"
