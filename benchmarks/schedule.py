"""Decision latency of vfplane's scheduler over a synthetic cloud (no database).

Usage: .venv/bin/python benchmarks/schedule.py --hosts 1000,10000 --pfs 2 --vfs 64 \
           --physnets 4 --requests 2000 [--seed 6] [--max-seconds 120]

Prints one JSON line per host count. The ``HostCatalog`` of ``HostIndex`` objects is
built once, outside the timing; each timed decision is ``schedule(request, catalog)`` and
reading its candidates (the hosts and devices a boot would claim, built on first read).
Nothing is claimed between decisions, so every decision sees the same cloud.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import claims
import vfplane_input
import workload

from vfplane.domain.scheduling import (
    HostCatalog,
    HostIndex,
    schedule,
)


def _indexes(hosts: list[workload.Host]) -> Iterator[HostIndex]:
    """One index per host; hosts of one layout share the first one's pools (as HostView does)."""
    templates: dict[tuple[str, ...], HostIndex] = {}
    for host in hosts:
        layout = tuple(d.physnet for d in host.devices)
        template = templates.get(layout)
        if template is None:
            yield templates.setdefault(layout, HostIndex(vfplane_input.to_host(host)))
        else:
            yield template.updated(dataclasses.replace(template.host, name=host.name))


def run(args: argparse.Namespace, hosts_count: int) -> dict[str, object]:
    build_start = time.perf_counter()
    hosts = workload.build_hosts(hosts_count, args.pfs, args.vfs, args.physnets)
    indexes = HostCatalog(_indexes(hosts), seed=args.seed)
    del hosts
    gc.collect()
    gc.freeze()  # as the server does once it has read every host (api/app.py)
    build_s = time.perf_counter() - build_start
    boots = workload.build_requests(args.requests, args.physnets, args.seed)
    requests = [vfplane_input.to_request(b) for b in boots]

    timings: list[float] = []
    fits = 0
    deadline = time.perf_counter() + args.max_seconds
    for request in requests:
        start = time.perf_counter()
        decision = schedule(request, indexes)
        decision.candidates  # noqa: B018 (the hosts and devices a boot claims: built lazily)
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
    parser.add_argument(
        "--claims-runs",
        default="sqlite:1,postgresql:1,postgresql:2",
        help="backend:processes for claims/s (benchmarks/claims.py); none: skip",
    )
    parser.add_argument("--claims-hosts", default="1000", help="host counts for claims/s")
    parser.add_argument("--claims-requests", type=int, default=1000)
    parser.add_argument("--claims-threads", type=int, default=1,
                        help="claims in flight at once in each process")  # fmt: skip
    parser.add_argument("--host-subset-size", type=int, default=10,
                        help="[compute] host_subset_size of every claiming process")  # fmt: skip
    parser.add_argument("--postgres-url", default=claims.DEFAULT_POSTGRES)
    args = parser.parse_args(argv)
    for count in workload.host_counts(args.hosts):
        print(json.dumps(run(args, count)), flush=True)
    if args.claims_runs != "none":
        claim_args = argparse.Namespace(**{**vars(args), "runs": args.claims_runs,
                                           "requests": args.claims_requests,
                                           "threads": args.claims_threads})  # fmt: skip
        for count in workload.host_counts(args.claims_hosts):
            for line in claims.run_all(claim_args, count):
                print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
