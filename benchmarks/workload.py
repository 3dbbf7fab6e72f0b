"""A deterministic synthetic SR-IOV cloud and its boot requests, in plain Python.

No vfplane imports here: ``nova_peer.py`` imports this module inside Nova's venv,
where vfplane is not installed. ``schedule.py`` turns these records into
vfplane's scheduler input; ``nova_peer.py`` turns them into Nova objects.

Cloud: ``hosts`` hosts, each with ``pfs`` PFs of ``vfs`` VFs. PF ``k`` of host
``h`` is cabled to ``physnet{(h * pfs + k) % physnets}`` (round-robin across
hosts) and sits on NUMA node ``k % 2``. Every host has NUMA nodes 0 and 1.

Requests: one or two SR-IOV ``direct`` ports on random physnets; about 10 %
also carry a flavor alias (``sriov-vf:1``, any VF of the NIC model); about a
third name a NUMA policy (legacy, preferred or required) and then have a
one-node guest NUMA topology so the policy matters.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

VENDOR_ID = "8086"
PF_PRODUCT_ID = "1572"
VF_PRODUCT_ID = "154c"
ALIAS_NAME = "sriov-vf"
ALIAS_SPEC = {"vendor_id": VENDOR_ID, "product_id": VF_PRODUCT_ID}
NUMA_POLICIES = ("legacy", "preferred", "required")
HOST_VCPUS = 128
HOST_MEMORY_MB = 512 * 1024


@dataclass(frozen=True)
class Device:
    """One PCI function: ``address`` is ``dddd:bb:ss.f``; ``parent`` is the PF's."""

    address: str
    dev_type: str  # "type-PF" or "type-VF"
    product_id: str
    parent: str | None
    numa_node: int
    physnet: str

    @property
    def vendor_id(self) -> str:
        return VENDOR_ID


@dataclass(frozen=True)
class Host:
    name: str
    vcpus: int
    memory_mb: int
    numa_nodes: tuple[int, ...]
    devices: tuple[Device, ...]


@dataclass(frozen=True)
class Port:
    port_id: str
    physnet: str


@dataclass(frozen=True)
class BootRequest:
    """A server boot: its ports, an optional alias count, and NUMA settings."""

    name: str
    vcpus: int
    memory_mb: int
    ports: tuple[Port, ...]
    alias_count: int  # 0: no pci_passthrough:alias
    numa_policy: str | None  # flavor hw:pci_numa_affinity_policy
    guest_numa_nodes: int | None  # hw:numa_nodes; None: no guest NUMA topology


def address(domain: int, bus: int, slot: int, function: int) -> str:
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def build_host(index: int, pfs: int, vfs: int, physnets: int) -> Host:
    devices: list[Device] = []
    for k in range(pfs):
        bus = 0x10 + k
        physnet = f"physnet{(index * pfs + k) % physnets}"
        numa = k % 2
        pf = address(0, bus, 0, 0)
        devices.append(Device(pf, "type-PF", PF_PRODUCT_ID, None, numa, physnet))
        for n in range(vfs):
            vf = address(0, bus, 2 + n // 8, n % 8)
            devices.append(Device(vf, "type-VF", VF_PRODUCT_ID, pf, numa, physnet))
    return Host(f"host-{index:06d}", HOST_VCPUS, HOST_MEMORY_MB, (0, 1), tuple(devices))


def build_hosts(hosts: int, pfs: int, vfs: int, physnets: int) -> list[Host]:
    if pfs * vfs > 0 and vfs > 8 * 30:
        raise ValueError("at most 240 VFs per PF fit in the synthetic address plan")
    return [build_host(i, pfs, vfs, physnets) for i in range(hosts)]


def build_requests(count: int, physnets: int, seed: int) -> list[BootRequest]:
    rng = random.Random(seed)
    requests: list[BootRequest] = []
    for i in range(count):
        nports = rng.choice((1, 1, 2))
        ports = tuple(
            Port(f"port-{i}-{p}", f"physnet{rng.randrange(physnets)}") for p in range(nports)
        )
        alias_count = 1 if rng.random() < 0.10 else 0
        policy = rng.choice(NUMA_POLICIES) if rng.random() < 0.33 else None
        requests.append(
            BootRequest(
                name=f"boot-{i}",
                vcpus=rng.choice((2, 4, 8)),
                memory_mb=rng.choice((4096, 8192, 16384)),
                ports=ports,
                alias_count=alias_count,
                numa_policy=policy,
                guest_numa_nodes=1 if policy is not None else None,
            )
        )
    return requests


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def add_common_arguments(parser) -> None:  # type: ignore[no-untyped-def]
    parser.add_argument("--hosts", default="1000", help="comma-separated host counts")
    parser.add_argument("--pfs", type=int, default=2, help="PFs per host")
    parser.add_argument("--vfs", type=int, default=64, help="VFs per PF")
    parser.add_argument("--physnets", type=int, default=4)
    parser.add_argument("--seed", type=int, default=6)


def host_counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def report(
    bench: str, args: argparse.Namespace, hosts_count: int, timings: list[float], fits: int
) -> dict[str, object]:
    """The JSON line every decision benchmark prints: the configuration and p50/p99."""
    timings = sorted(timings)
    return {
        "bench": bench,
        "hosts": hosts_count,
        "pfs_per_host": args.pfs,
        "vfs_per_host": args.pfs * args.vfs,
        "physnets": args.physnets,
        "seed": args.seed,
        "requested": args.requests,
        "decisions": len(timings),
        "fits": fits,
        "p50_ms": round(percentile(timings, 0.50), 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
        "max_ms": round(timings[-1], 3) if timings else None,
    }
