"""The scheduling core: Nova's pool matching, cumulative requests, PF/VF, NUMA, weighers."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfplane.domain.alias import NumaPolicy
from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.domain.requests import PciRequest, port_request
from vfplane.domain.scheduling import (
    Decision,
    DeviceTarget,
    HostCandidate,
    HostExplanation,
    HostIndex,
    InstanceRequest,
    NoMatchingDevice,
    NotEnoughFree,
    NotEnoughMemory,
    NotEnoughNumaNodes,
    NotEnoughVcpus,
    NumaMismatch,
    SchedDevice,
    WeigherConfig,
    schedule,
    summarise,
)
from vfplane.errors import DeviceInvalidStatus, InvalidInput

AVAILABLE = DeviceStatus.AVAILABLE
_ids = itertools.count(1)


def addr(bus: int, slot: int = 0, function: int = 0) -> PciAddress:
    return PciAddress(0, bus, slot, function)


def nic(
    bus: int,
    vfs: int = 4,
    *,
    physnet: str | None = "physnet1",
    numa: int | None = 0,
    tags: Mapping[str, str | None] | None = None,
    pf_status: DeviceStatus = AVAILABLE,
    vf_status: Mapping[int, DeviceStatus] | None = None,
) -> list[SchedDevice]:
    """A PF at bus:00.0 and its VFs from bus:02.0 on, all tagged alike."""
    all_tags = {"physical_network": physnet, **(tags or {})}
    pf = SchedDevice(addr(bus), "8086", "1572", DeviceType.PF, None, numa, all_tags, pf_status)
    statuses = vf_status or {}
    return [
        pf,
        *(
            SchedDevice(
                addr(bus, 2 + n // 8, n % 8),
                "8086",
                "154c",
                DeviceType.VF,
                pf.address,
                numa,
                all_tags,
                statuses.get(n, AVAILABLE),
            )
            for n in range(vfs)
        ),
    ]


def pci_device(bus: int, *, numa: int | None = 0, **tags: str) -> SchedDevice:
    return SchedDevice(addr(bus), "8086", "0443", DeviceType.PCI, None, numa, tags)


def host(
    name: str,
    devices: Sequence[SchedDevice] = (),
    *,
    numa_nodes: tuple[int, ...] = (0, 1),
    vcpus: int = 32,
    memory_mb: int = 65536,
    vcpus_used: int = 0,
    memory_mb_used: int = 0,
    cpu_allocation_ratio: float = 1.0,
    ram_allocation_ratio: float = 1.0,
    numa_sockets: Mapping[int, int] | None = None,
) -> HostCandidate:
    return HostCandidate(
        name,
        vcpus,
        memory_mb,
        vcpus_used,
        memory_mb_used,
        cpu_allocation_ratio,
        ram_allocation_ratio,
        numa_nodes,
        tuple(devices),
        numa_sockets,
    )


def port(
    physnet: str | None = "physnet1",
    vnic: str = "direct",
    *,
    trusted: bool | None = None,
    policy: NumaPolicy | None = None,
) -> PciRequest:
    request = port_request(
        f"port-{next(_ids)}", vnic, physnet, trusted, policy, lambda: f"req-{next(_ids)}"
    )
    assert request is not None
    return request


def alias_request(
    *specs: Mapping[str, str], count: int = 1, policy: NumaPolicy | None = None
) -> PciRequest:
    return PciRequest(f"req-{next(_ids)}", count, tuple(specs), policy, "a1", None)


def boot(
    *requests: PciRequest,
    vcpus: int = 2,
    memory_mb: int = 2048,
    numa_policy: NumaPolicy | None = None,
    guest_numa_nodes: int | None = None,
) -> InstanceRequest:
    return InstanceRequest(vcpus, memory_mb, requests, numa_policy, guest_numa_nodes)


def only(decision: Decision) -> list[PciAddress]:
    assert [c.host for c in decision.candidates] == ["h1"], decision.summary
    return list(decision.candidates[0].addresses)


def reasons(decision: Decision) -> list[object]:
    return [reason for e in decision.rejected for reason in e.reasons]


# --- request-to-pool matching -------------------------------------------------------------


def test_direct_port_takes_the_lowest_vf_on_its_physnet() -> None:
    decision = schedule(boot(port()), [host("h1", nic(0x3B))])
    assert only(decision) == [addr(0x3B, 2, 0)]
    assignment = decision.candidates[0].assignments[0]
    assert assignment.requester_id is not None
    assert assignment.requester_id.startswith("port-")


def test_tags_and_ids_match_case_insensitively() -> None:
    devices = nic(0x3B, physnet="PhysNet1")
    assert only(schedule(boot(port("physnet1")), [host("h1", devices)]))
    spec = {"vendor_id": "8086", "product_id": "154C", "dev_type": "type-vf"}
    assert only(schedule(boot(alias_request(spec)), [host("h1", devices)]))


def test_trusted_false_only_matches_devices_tagged_false() -> None:
    untagged = host("h1", nic(0x3B))
    tagged_false = host("h1", nic(0x3B, tags={"trusted": "false"}))
    tagged_true = host("h1", nic(0x3B, tags={"trusted": "true"}))
    assert not schedule(boot(port(trusted=False)), [untagged]).fits
    assert not schedule(boot(port(trusted=False)), [tagged_true]).fits
    assert only(schedule(boot(port(trusted=False)), [tagged_false]))
    assert only(schedule(boot(port(trusted=True)), [tagged_true]))
    assert only(schedule(boot(port()), [tagged_true]))


def test_untagged_devices_serve_overlay_ports_only() -> None:
    untagged = host("h1", nic(0x3B, physnet=None))
    decision = schedule(boot(port(None)), [untagged, host("h2", nic(0x5E))])
    assert [c.host for c in decision.candidates] == ["h1"]
    assert decision.summary == "1 host: 1 has no device for overlay networks (untagged)"
    assert not schedule(boot(port("physnet1")), [untagged]).fits


def test_pf_pools_are_excluded_unless_a_pf_is_requested() -> None:
    lone_pf = host("h1", nic(0x3B, vfs=0))
    assert isinstance(reasons(schedule(boot(port()), [lone_pf]))[0], NoMatchingDevice)
    assert only(schedule(boot(port(vnic="direct-physical")), [lone_pf])) == [addr(0x3B)]


def test_alias_without_device_type_matches_pci_and_vf_but_not_pf() -> None:
    spec = {"vendor_id": "8086", "product_id": "1572"}
    assert not schedule(boot(alias_request(spec)), [host("h1", nic(0x3B, vfs=0))]).fits
    vf_spec = {"vendor_id": "8086", "product_id": "154c"}
    assert only(schedule(boot(alias_request(vf_spec)), [host("h1", nic(0x3B))]))
    pci_spec = {"vendor_id": "8086", "product_id": "0443"}
    assert only(schedule(boot(alias_request(pci_spec)), [host("h1", [pci_device(0x5E)])]))


def test_remote_managed_pools_are_excluded_unless_requested() -> None:
    smartnic = host("h1", nic(0x3B, tags={"remote_managed": "true"}))
    spec = {"vendor_id": "8086", "product_id": "154c"}
    assert not schedule(boot(alias_request(spec)), [smartnic]).fits
    assert not schedule(boot(port()), [smartnic]).fits
    assert only(schedule(boot(port(vnic="remote-managed")), [smartnic]))


def test_placement_only_alias_keys_are_ignored_when_matching() -> None:
    spec = {"vendor_id": "8086", "product_id": "154c", "resource_class": "CUSTOM_NIC"}
    assert only(schedule(boot(alias_request(spec)), [host("h1", nic(0x3B))]))


def test_specs_of_one_request_are_alternatives() -> None:
    nvidia = {"vendor_id": "10de", "product_id": "1db4"}
    intel = {"vendor_id": "8086", "product_id": "0443"}
    decision = schedule(boot(alias_request(nvidia, intel)), [host("h1", [pci_device(0x5E)])])
    assert only(decision) == [addr(0x5E)]


def test_fewest_tag_pools_are_consumed_first() -> None:
    plain = pci_device(0x80)
    tagged = pci_device(0x10, owner="team-a")
    spec = {"vendor_id": "8086", "product_id": "0443"}
    decision = schedule(boot(alias_request(spec)), [host("h1", [tagged, plain])])
    assert only(decision) == [addr(0x80)]


# --- cumulative requests --------------------------------------------------------------------


def test_two_requests_for_a_hosts_only_device_fail_nova_bug_1986838() -> None:
    spec = {"vendor_id": "8086", "product_id": "0443"}
    first, second = alias_request(spec), alias_request(spec)
    decision = schedule(boot(first, second), [host("h1", [pci_device(0x5E)])])
    assert not decision.fits
    (explanation,) = decision.rejected
    assert explanation.for_request(first.request_id) == ()
    (reason,) = explanation.for_request(second.request_id)
    assert isinstance(reason, NotEnoughFree)
    assert (reason.free, reason.wanted, reason.taken_by_boot) == (0, 1, 1)
    assert "1 used up by other requests of this boot" in decision.summary


def test_one_request_spans_pools_and_requests_never_share_devices() -> None:
    devices = [*nic(0x3B, vfs=2), *nic(0x5E, vfs=2)]
    decision = schedule(boot(port(), port(), port()), [host("h1", devices)])
    per_request = [a.addresses for a in decision.candidates[0].assignments]
    assert per_request == [(addr(0x3B, 2, 0),), (addr(0x3B, 2, 1),), (addr(0x5E, 2, 0),)]
    spec = {"vendor_id": "8086", "product_id": "154c"}
    (big,) = schedule(boot(alias_request(spec, count=4)), [host("h1", devices)]).candidates
    assert len(set(big.addresses)) == 4


# --- PF/VF dependency -----------------------------------------------------------------------


def test_pf_with_a_vf_in_use_cannot_serve_a_pf_request() -> None:
    used = nic(0x3B, pf_status=DeviceStatus.UNAVAILABLE, vf_status={1: DeviceStatus.ALLOCATED})
    decision = schedule(boot(port(vnic="direct-physical")), [host("h1", used)])
    (reason,) = reasons(decision)
    assert isinstance(reason, NotEnoughFree)
    assert (reason.free, reason.allocated) == (0, 1)
    assert decision.summary == "1 host: 1 has 0 free PFs on physnet1 (1 allocated)"


def test_pf_reported_available_is_still_blocked_by_a_claimed_vf() -> None:
    stale = nic(0x3B, vf_status={0: DeviceStatus.CLAIMED})
    decision = schedule(boot(port(vnic="direct-physical")), [host("h1", stale)])
    (reason,) = reasons(decision)
    assert isinstance(reason, NotEnoughFree)
    assert reason.blocked == 1
    assert "1 blocked by their PF or VFs in use" in decision.summary


def test_vfs_of_a_claimed_pf_are_not_free_even_if_their_status_lags() -> None:
    stale = nic(0x3B, pf_status=DeviceStatus.CLAIMED)
    decision = schedule(boot(port()), [host("h1", stale)])
    (reason,) = reasons(decision)
    assert isinstance(reason, NotEnoughFree)
    assert (reason.free, reason.blocked) == (0, 4)


def test_one_boot_cannot_take_a_pf_and_one_of_its_vfs() -> None:
    one_nic = host("h1", nic(0x3B))
    assert not schedule(boot(port(), port(vnic="direct-physical")), [one_nic]).fits
    assert not schedule(boot(port(vnic="direct-physical"), port()), [one_nic]).fits
    two_nics = host("h1", [*nic(0x3B), *nic(0x5E)])
    vf, pf = (
        schedule(boot(port(), port(vnic="direct-physical")), [two_nics]).candidates[0].assignments
    )
    assert (vf.addresses, pf.addresses) == ((addr(0x3B, 2, 0),), (addr(0x5E),))


def test_index_take_and_give_follow_the_pf_vf_rules() -> None:
    index = HostIndex(host("h1", nic(0x3B, vfs=2)))
    pf, vf0, vf1 = addr(0x3B), addr(0x3B, 2, 0), addr(0x3B, 2, 1)
    index.take([vf0])
    assert (index.is_free(pf), index.status(pf)) == (False, DeviceStatus.UNCLAIMABLE)
    index.take([vf1])
    index.give([vf0])
    assert not index.is_free(pf)
    index.give([vf1])
    assert index.is_free(pf)
    assert index.status(pf) is AVAILABLE
    index.take([pf], vcpus=2, memory_mb=512)
    assert index.free_devices == 0
    assert (index.vcpus_used, index.memory_mb_used) == (2, 512)
    index.give([pf], vcpus=2, memory_mb=512)
    assert index.free_devices == 3


def test_index_refuses_to_take_busy_devices_or_give_free_ones() -> None:
    index = HostIndex(host("h1", nic(0x3B, vfs=2)))
    index.take([addr(0x3B, 2, 0)])
    with pytest.raises(
        DeviceInvalidStatus, match=r"0000:3b:00.0 on h1: it is not free \(unclaimable\)"
    ):
        index.take([addr(0x3B)])
    with pytest.raises(DeviceInvalidStatus, match="it is available, not in use"):
        index.give([addr(0x3B, 2, 1)])
    with pytest.raises(DeviceInvalidStatus, match="not on this host"):
        index.take([addr(0x99)])


def test_index_gives_back_devices_claimed_in_the_snapshot() -> None:
    snapshot = nic(0x3B, vfs=2, pf_status=DeviceStatus.ALLOCATED)
    snapshot = [snapshot[0]] + [
        SchedDevice(
            d.address,
            d.vendor_id,
            d.product_id,
            d.dev_type,
            d.parent_addr,
            0,
            d.tags,
            DeviceStatus.UNAVAILABLE,
        )
        for d in snapshot[1:]
    ]
    index = HostIndex(host("h1", snapshot))
    assert index.free_devices == 0
    index.give([addr(0x3B)])
    assert index.free_devices == 3


def test_removed_devices_are_not_pooled() -> None:
    gone = SchedDevice(addr(0x5E), "8086", "0443", DeviceType.PCI, status=DeviceStatus.REMOVED)
    spec = {"vendor_id": "8086", "product_id": "0443"}
    decision = schedule(boot(alias_request(spec)), [host("h1", [gone])])
    assert isinstance(reasons(decision)[0], NoMatchingDevice)


# --- NUMA -----------------------------------------------------------------------------------


def split_nics() -> list[SchedDevice]:
    """One VF on NUMA node 0 and one on node 1."""
    return [*nic(0x3B, vfs=1, numa=0), *nic(0x86, vfs=1, numa=1)]


def test_guests_without_numa_topology_get_no_numa_filtering() -> None:
    two = alias_request({"dev_type": "type-VF"}, count=2, policy=NumaPolicy.REQUIRED)
    assert schedule(boot(two), [host("h1", split_nics())]).fits


def test_required_needs_every_device_on_the_guests_cells() -> None:
    two = alias_request({"dev_type": "type-VF"}, count=2, policy=NumaPolicy.REQUIRED)
    decision = schedule(boot(two, guest_numa_nodes=1), [host("h1", split_nics())])
    (explanation,) = decision.rejected
    assert explanation.filter_name == "numa"
    (reason,) = explanation.reasons
    assert isinstance(reason, NumaMismatch)
    assert (reason.near, reason.wanted, reason.policy) == (1, 2, NumaPolicy.REQUIRED)
    assert schedule(boot(two, guest_numa_nodes=2), [host("h1", split_nics())]).fits


def test_guest_goes_to_the_cell_with_the_devices() -> None:
    far = host("h1", nic(0x86, vfs=1, numa=1))
    request = boot(port(policy=NumaPolicy.REQUIRED), guest_numa_nodes=1)
    assert only(schedule(request, [far])) == [addr(0x86, 2, 0)]


def test_legacy_also_accepts_devices_without_numa_affinity() -> None:
    devices = [*nic(0x3B, vfs=1, numa=0), *nic(0x86, vfs=1, numa=None)]
    legacy = alias_request({"dev_type": "type-VF"}, count=2, policy=NumaPolicy.LEGACY)
    assert schedule(boot(legacy, guest_numa_nodes=1), [host("h1", devices)]).fits
    assert not schedule(boot(legacy, guest_numa_nodes=1), [host("h1", split_nics())]).fits
    required = alias_request({"dev_type": "type-VF"}, count=2, policy=NumaPolicy.REQUIRED)
    assert not schedule(boot(required, guest_numa_nodes=1), [host("h1", devices)]).fits


def test_preferred_takes_remote_devices_but_local_ones_first() -> None:
    devices = [*nic(0x3B, vfs=2, numa=0), *nic(0x86, vfs=1, numa=1)]
    preferred = alias_request({"dev_type": "type-VF"}, count=3, policy=NumaPolicy.PREFERRED)
    (candidate,) = schedule(boot(preferred, guest_numa_nodes=1), [host("h1", devices)]).candidates
    assert candidate.addresses == (addr(0x3B, 2, 0), addr(0x3B, 2, 1), addr(0x86, 2, 0))


def test_socket_accepts_other_nodes_of_the_same_socket() -> None:
    two = alias_request({"dev_type": "type-VF"}, count=2, policy=NumaPolicy.SOCKET)
    request = boot(two, guest_numa_nodes=1)
    one_socket = host("h1", split_nics(), numa_sockets={0: 0, 1: 0})
    assert schedule(request, [one_socket]).fits
    assert not schedule(request, [host("h1", split_nics(), numa_sockets={0: 0, 1: 1})]).fits
    assert not schedule(request, [host("h1", split_nics())]).fits
    unknown = host("h1", split_nics(), numa_sockets={1: 0})
    assert not schedule(request, [unknown]).fits


def test_request_policy_beats_the_instance_policy() -> None:
    two = alias_request({"dev_type": "type-VF"}, count=2, policy=NumaPolicy.PREFERRED)
    request = boot(two, guest_numa_nodes=1, numa_policy=NumaPolicy.REQUIRED)
    assert schedule(request, [host("h1", split_nics())]).fits
    inherits = alias_request({"dev_type": "type-VF"}, count=2)
    for policy, fits in ((NumaPolicy.PREFERRED, True), (None, False)):
        request = boot(inherits, guest_numa_nodes=1, numa_policy=policy)
        assert schedule(request, [host("h1", split_nics())]).fits is fits


def test_guest_with_more_numa_nodes_than_the_host() -> None:
    decision = schedule(boot(guest_numa_nodes=2), [host("h1", numa_nodes=(0,))])
    assert reasons(decision) == [NotEnoughNumaNodes(wanted=2, available=1)]
    assert decision.summary == "1 host: 1 has 1 NUMA node (2 wanted by the guest)"


# --- capacity ---------------------------------------------------------------------------------


def test_capacity_counts_allocation_ratios() -> None:
    busy = host(
        "h1",
        vcpus=4,
        cpu_allocation_ratio=4.0,
        vcpus_used=14,
        memory_mb=1000,
        ram_allocation_ratio=1.5,
        memory_mb_used=1000,
    )
    assert schedule(boot(vcpus=2, memory_mb=500), [busy]).fits
    decision = schedule(boot(vcpus=3, memory_mb=501), [busy])
    assert reasons(decision) == [NotEnoughVcpus(2.0, 3), NotEnoughMemory(500.0, 501)]
    assert decision.rejected[0].filter_name == "compute"
    assert decision.summary == "1 host: 1 has 2 free vCPUs (3 wanted)"


def test_invalid_instance_requests_are_refused() -> None:
    with pytest.raises(InvalidInput, match="guest_numa_nodes"):
        boot(guest_numa_nodes=0)
    request = port()
    with pytest.raises(InvalidInput, match="unique"):
        boot(request, request)
    with pytest.raises(InvalidInput, match="count"):
        schedule(boot(), [], count=0)


# --- weighers ---------------------------------------------------------------------------------


def test_pci_instances_pack_onto_the_host_with_fewest_free_devices() -> None:
    hosts = [host("big", nic(0x3B, vfs=16)), host("small", nic(0x3B, vfs=2))]
    decision = schedule(boot(port()), hosts)
    assert [c.host for c in decision.candidates] == ["small", "big"]


def test_other_instances_spread_by_free_ram() -> None:
    hosts = [
        host("full", memory_mb=65536, memory_mb_used=60000),
        host("empty", memory_mb=65536),
        host("half", nic(0x3B, vfs=2), memory_mb=65536, memory_mb_used=30000),
    ]
    assert [c.host for c in schedule(boot(), hosts).candidates] == ["empty", "half", "full"]


def test_weigher_multipliers_are_configurable() -> None:
    hosts = [
        host("big", nic(0x3B, vfs=16)),
        host("small", nic(0x3B, vfs=2), memory_mb_used=30000),
    ]
    default = schedule(boot(port()), hosts)
    assert [c.host for c in default.candidates] == ["big", "small"]
    packing = schedule(boot(port()), hosts, weighers=WeigherConfig(pci_multiplier=3.0))
    assert [c.host for c in packing.candidates] == ["small", "big"]
    assert packing.candidates[0].weight == pytest.approx(3.0)


def test_equal_weights_are_ordered_by_host_name() -> None:
    hosts = [host(name, nic(0x3B)) for name in ("c", "a", "b")]
    assert [c.host for c in schedule(boot(port()), hosts).candidates] == ["a", "b", "c"]


# --- multi-create -----------------------------------------------------------------------------


def test_multi_create_consumes_between_instances() -> None:
    hosts = [host("h1", nic(0x3B, vfs=1)), host("h2", nic(0x5E, vfs=3))]
    decision = schedule(boot(port()), hosts, count=3)
    assert decision.fits
    assert [(p.host, p.addresses) for p in decision.placements] == [
        ("h1", (addr(0x3B, 2, 0),)),
        ("h2", (addr(0x5E, 2, 0),)),
        ("h2", (addr(0x5E, 2, 1),)),
    ]


def test_multi_create_reports_what_ran_out_and_leaves_indexes_alone() -> None:
    index = HostIndex(host("h1", nic(0x3B, vfs=2)))
    assert index.free_devices == 3
    decision = schedule(boot(port()), [index], count=3)
    assert not decision.fits
    assert len(decision.placements) == 2
    assert decision.summary == "1 host: 1 has 0 free VFs on physnet1 (2 allocated)"
    assert index.free_devices == 3


# --- explanations -----------------------------------------------------------------------------


def test_summary_groups_hosts_by_their_first_reason() -> None:
    exhausted = nic(
        0x3B,
        vfs=32,
        physnet="physnet2",
        vf_status=dict.fromkeys(range(32), DeviceStatus.ALLOCATED),
        pf_status=DeviceStatus.UNAVAILABLE,
    )
    hosts = [host(f"h{n}", nic(0x3B)) for n in range(3)] + [host("h3", exhausted)]
    decision = schedule(boot(port("physnet2")), hosts)
    assert decision.summary == (
        "4 hosts: 3 have no device on physnet2; 1 has 0 free VFs on physnet2 (32 allocated)"
    )


def test_summary_gives_ranges_when_hosts_differ() -> None:
    target = DeviceTarget("physnet1", None, None)
    explanations = [
        HostExplanation("a", "pci", (NotEnoughFree("r", target, 1, 4, 30),)),
        HostExplanation("b", "pci", (NotEnoughFree("r", target, 3, 4, 28),)),
        HostExplanation("c", "compute", (NotEnoughVcpus(0.5, 2),)),
    ]
    assert summarise(explanations) == (
        "3 hosts: 2 have too few free VFs on physnet1 (1-3 free, 4 wanted, 28-30 allocated); "
        "1 has 0.5 free vCPUs (2 wanted)"
    )
    assert summarise([]) == "0 hosts"


def test_alias_reasons_name_the_alias() -> None:
    spec = {"vendor_id": "10de", "product_id": "1db4", "dev_type": "type-PCI"}
    decision = schedule(boot(alias_request(spec)), [host("h1")])
    assert decision.summary == "1 host: 1 has no PCI device for alias 'a1'"


def test_explain_lists_every_failing_request_per_host() -> None:
    one, two = port("physnet1"), port("physnet2")
    decision = schedule(boot(one, two), [host("h1", nic(0x3B, vfs=0))])
    (entry,) = decision.explain()
    assert entry["host"] == "h1"
    assert entry["filter"] == "pci"
    assert entry["message"] == "no device on physnet1; no device on physnet2"
    listed = entry["reasons"]
    assert isinstance(listed, list)
    assert [r["request_id"] for r in listed] == [one.request_id, two.request_id]
    assert listed[0]["kind"] == "NoMatchingDevice"


# --- properties -------------------------------------------------------------------------------

STATUSES = st.sampled_from(
    [AVAILABLE, AVAILABLE, AVAILABLE, DeviceStatus.CLAIMED, DeviceStatus.ALLOCATED]
)


@st.composite
def random_hosts(draw: st.DrawFn) -> list[HostCandidate]:
    hosts = []
    for number in range(draw(st.integers(1, 4))):
        devices: list[SchedDevice] = []
        for bus in range(draw(st.integers(0, 3))):
            vfs = draw(st.integers(0, 6))
            statuses = {n: draw(STATUSES) for n in range(vfs)}
            devices += nic(
                bus + 1,
                vfs,
                physnet=draw(st.sampled_from(["physnet1", "physnet2", None])),
                numa=draw(st.sampled_from([0, 1, None])),
                vf_status=statuses,
                pf_status=draw(STATUSES),
            )
        hosts.append(host(f"h{number}", devices))
    return hosts


@st.composite
def random_boot(draw: st.DrawFn) -> InstanceRequest:
    requests = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            vnic = draw(st.sampled_from(["direct", "direct-physical"]))
            requests.append(port(draw(st.sampled_from(["physnet1", "physnet2"])), vnic))
        else:
            spec = {"vendor_id": "8086", "product_id": draw(st.sampled_from(["154c", "1572"]))}
            if spec["product_id"] == "1572":
                spec["dev_type"] = "type-PF"
            requests.append(
                alias_request(
                    spec,
                    count=draw(st.integers(1, 4)),
                    policy=draw(st.sampled_from(list(NumaPolicy))),
                )
            )
    return boot(*requests, guest_numa_nodes=draw(st.sampled_from([None, 1, 2])))


@settings(max_examples=150, deadline=None)
@given(random_hosts(), random_boot(), st.integers(1, 3))
def test_decisions_assign_free_devices_once_and_exactly_as_many_as_asked(
    hosts: list[HostCandidate], request: InstanceRequest, count: int
) -> None:
    indexes = {h.name: HostIndex(h) for h in hosts}
    decision = schedule(request, list(indexes.values()), count=count)
    wanted = [r.count for r in request.pci_requests]
    for candidate in decision.candidates:
        index = indexes[candidate.host]
        addresses = candidate.addresses
        assert len(set(addresses)) == len(addresses) == sum(wanted)
        assert [len(a.addresses) for a in candidate.assignments] == wanted
        assert all(index.is_free(a) for a in addresses)
        parents = {index.device(a).parent_addr for a in addresses}
        assert not parents & set(addresses), "a PF and one of its VFs in one boot"
        HostIndex(index.host).take(addresses)
    taken: dict[str, list[PciAddress]] = {}
    for placement in decision.placements:
        taken.setdefault(placement.host, []).extend(placement.addresses)
    for name, on_host in taken.items():
        assert len(set(on_host)) == len(on_host) <= indexes[name].free_devices
        HostIndex(indexes[name].host).take(on_host)
    judged = {c.host for c in decision.candidates} | {e.host for e in decision.rejected}
    assert judged == set(indexes)


@settings(max_examples=100, deadline=None)
@given(random_hosts(), st.data())
def test_take_then_give_restores_the_free_devices(
    hosts: list[HostCandidate], data: st.DataObject
) -> None:
    index = HostIndex(hosts[0])
    before = {d.address for d in hosts[0].devices if index.is_free(d.address)}
    if not before:
        return
    chosen = data.draw(st.sampled_from(sorted(before)))
    index.take([chosen])
    assert not index.is_free(chosen)
    assert index.free_devices < len(before)
    index.give([chosen])
    assert {d.address for d in hosts[0].devices if index.is_free(d.address)} == before


def test_macvtap_skips_vfs_without_a_netdev() -> None:
    """A VF bound to vfio-pci has no netdev, so macvtap cannot sit on it (direct can)."""
    from dataclasses import replace

    pf, vfio_vf, netdev_vf = nic(0x3B, vfs=2)
    devices = [pf, vfio_vf, replace(netdev_vf, netdev="ens1f0v1")]
    decision = schedule(boot(port(vnic="macvtap")), [host("h1", devices)])
    assert only(decision) == [netdev_vf.address]
    assert only(schedule(boot(port()), [host("h1", devices)])) == [vfio_vf.address]
    refused = schedule(boot(port(vnic="macvtap")), [host("h1", [pf, vfio_vf])])
    assert not refused.fits
    assert refused.summary == (
        "1 host: 1 has no device on physnet1 with a netdev (macvtap; not bound to vfio-pci)"
    )
