"""Decision latency of vfplane's scheduler over a synthetic cloud (no database).

Usage: .venv/bin/python benchmarks/schedule.py --hosts 1000,10000 --pfs 2 --vfs 64 \
           --physnets 4 --requests 2000 [--seed 6] [--max-seconds 120]

Prints one JSON line per host count. The ``HostCatalog`` of ``HostIndex`` objects is
built once, outside the timing; each timed decision is ``schedule(request, catalog)``.
Nothing is claimed between decisions, so every decision sees the same cloud.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

from vfplane.domain.alias import NumaPolicy
from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.domain.requests import PciRequest, port_request
from vfplane.domain.scheduling import (
    HostCandidate,
    HostCatalog,
    HostIndex,
    InstanceRequest,
    SchedDevice,
    schedule,
)


def to_host(host: workload.Host) -> HostCandidate:
    devices = tuple(
        SchedDevice(
            address=PciAddress.parse(d.address),
            vendor_id=d.vendor_id,
            product_id=d.product_id,
            dev_type=DeviceType(d.dev_type),
            parent_addr=PciAddress.parse(d.parent) if d.parent else None,
            numa_node=d.numa_node,
            tags={"physical_network": d.physnet},
        )
        for d in host.devices
    )
    return HostCandidate(
        name=host.name,
        vcpus=host.vcpus,
        memory_mb=host.memory_mb,
        numa_nodes=host.numa_nodes,
        devices=devices,
    )


def to_request(boot: workload.BootRequest) -> InstanceRequest:
    ids = itertools.count(1)
    policy = NumaPolicy(boot.numa_policy) if boot.numa_policy else None
    requests: list[PciRequest] = []
    for port in boot.ports:
        request = port_request(
            port.port_id, "direct", port.physnet, None, None, lambda: f"{boot.name}-r{next(ids)}"
        )
        assert request is not None
        requests.append(request)
    if boot.alias_count:
        requests.append(
            PciRequest(
                request_id=f"{boot.name}-r{next(ids)}",
                count=boot.alias_count,
                specs=(dict(workload.ALIAS_SPEC),),
                numa_policy=None,  # takes the flavor's policy (or legacy)
                alias_name=workload.ALIAS_NAME,
                requester_id=None,
            )
        )
    return InstanceRequest(
        vcpus=boot.vcpus,
        memory_mb=boot.memory_mb,
        pci_requests=tuple(requests),
        numa_policy=policy,
        guest_numa_nodes=boot.guest_numa_nodes,
    )


def run(args: argparse.Namespace, hosts_count: int) -> dict[str, object]:
    build_start = time.perf_counter()
    hosts = workload.build_hosts(hosts_count, args.pfs, args.vfs, args.physnets)
    indexes = HostCatalog((HostIndex(to_host(h)) for h in hosts), seed=args.seed)
    del hosts
    build_s = time.perf_counter() - build_start
    boots = workload.build_requests(args.requests, args.physnets, args.seed)
    requests = [to_request(b) for b in boots]

    timings: list[float] = []
    fits = 0
    deadline = time.perf_counter() + args.max_seconds
    for request in requests:
        start = time.perf_counter()
        decision = schedule(request, indexes)
        timings.append((time.perf_counter() - start) * 1000.0)
        fits += decision.fits
        if time.perf_counter() > deadline:
            break
    line = workload.report("schedule", args, hosts_count, timings, fits)
    return {**line, "index_build_s": round(build_s, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workload.add_common_arguments(parser)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="stop timing after this long per host count")  # fmt: skip
    args = parser.parse_args(argv)
    for count in workload.host_counts(args.hosts):
        print(json.dumps(run(args, count)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
