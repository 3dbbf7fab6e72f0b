"""Decision latency of Nova's PCI scheduling (PciDeviceStats.support_requests), same workload.

Usage: python3 benchmarks/nova_peer.py --hosts 1000 --pfs 2 --vfs 64 --physnets 4 \
           --requests 20 [--seed 6] [--max-seconds 120]

Any Python 3.10+ starts it: it creates ``benchmarks/.nova-venv`` when missing,
``pip install nova==34.0.0`` into it, and re-executes itself there (vfplane is
not needed; the workload comes from ``workload.py``).

Each host gets one scheduler-side ``PciDeviceStats`` built from a
``PciDevicePoolList``, the pools a nova-compute reports for these devices (one
VF pool and one PF pool per PF, tagged with ``physical_network``, ``address``
of the PF and ``remote_managed``), as ``HostState.pci_stats`` is built.

One decision = what the filters do for one boot request over every host:
``PciPassthroughFilter`` calls ``support_requests(requests, provider_mapping)``
on each host; for a request with a guest NUMA topology (the ones with a NUMA
policy), a host that passes is then checked as ``NUMATopologyFilter`` does
through ``numa_fit_instance_to_host``: ``support_requests`` with each host NUMA
cell in turn until one fits. Nothing is consumed between decisions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".nova-venv"
NOVA_VERSION = "34.0.0"
sys.path.insert(0, str(HERE))

import workload  # noqa: E402


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import nova.pci.stats"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        print(f"installing nova=={NOVA_VERSION} into {VENV} (takes a few minutes)", file=sys.stderr)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"nova=={NOVA_VERSION}"], check=True
        )
    return python


def _pools(host: workload.Host, objects):  # type: ignore[no-untyped-def]
    """The PciDevicePoolList a nova-compute would report for ``host``."""
    pools: dict[tuple[str, str, str], object] = {}
    for device in host.devices:
        pool_address = device.parent or device.address
        key = (device.dev_type, pool_address, device.product_id)
        pool = pools.get(key)
        if pool is None:
            pool = pools[key] = objects.PciDevicePool(
                vendor_id=device.vendor_id,
                product_id=device.product_id,
                numa_node=device.numa_node,
                count=0,
                tags={
                    "dev_type": device.dev_type,
                    "physical_network": device.physnet,
                    "address": pool_address,
                    "remote_managed": "false",
                },
            )
        pool.count += 1
    return objects.PciDevicePoolList(objects=list(pools.values()))


def _requests(boot: workload.BootRequest, index: int, objects):  # type: ignore[no-untyped-def]
    """The InstancePCIRequests Nova builds for the ports and the flavor alias."""
    ids = iter(range(1, 100))
    policy = boot.numa_policy  # port policy unset: the flavor's (or None: legacy)
    requests = [
        objects.InstancePCIRequest(
            count=1,
            spec=[{"physical_network": port.physnet, "remote_managed": "False"}],
            alias_name=None,
            request_id=str(uuid.UUID(int=index * 1000 + next(ids))),
            requester_id=port.port_id,
            numa_policy=policy,
        )
        for port in boot.ports
    ]
    if boot.alias_count:
        requests.append(
            objects.InstancePCIRequest(
                count=boot.alias_count,
                spec=[dict(workload.ALIAS_SPEC)],
                alias_name=workload.ALIAS_NAME,
                request_id=str(uuid.UUID(int=index * 1000 + next(ids))),
                requester_id=None,
                numa_policy=policy,
            )
        )
    return requests


def run(args: argparse.Namespace, hosts_count: int) -> dict[str, object]:
    from nova import objects
    from nova.pci import stats as pci_stats

    objects.register_all()
    build_start = time.perf_counter()
    topology = objects.NUMATopology(cells=[])
    hosts = workload.build_hosts(hosts_count, args.pfs, args.vfs, args.physnets)
    stats = [
        (h, pci_stats.PciDeviceStats(topology, stats=_pools(h, objects), dev_filter=object()))
        for h in hosts
    ]
    build_s = time.perf_counter() - build_start
    boots = workload.build_requests(args.requests, args.physnets, args.seed)
    cells = {n: [objects.InstanceNUMACell(id=n)] for n in (0, 1)}

    timings: list[float] = []
    fits = 0
    deadline = time.perf_counter() + args.max_seconds
    for index, boot in enumerate(boots):
        requests = _requests(boot, index, objects)
        start = time.perf_counter()
        passing = 0
        for host, host_stats in stats:
            if not host_stats.support_requests(requests, provider_mapping={}):
                continue
            if boot.guest_numa_nodes is not None and not any(
                host_stats.support_requests(requests, None, cells[node]) for node in host.numa_nodes
            ):
                continue
            passing += 1
        timings.append((time.perf_counter() - start) * 1000.0)
        fits += passing > 0
        if time.perf_counter() > deadline:
            break
    line = workload.report("nova_peer", args, hosts_count, timings, fits)
    return {**line, "nova": NOVA_VERSION, "stats_build_s": round(build_s, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workload.add_common_arguments(parser)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="stop timing after this long per host count")  # fmt: skip
    args = parser.parse_args(argv)
    if not _in_venv():
        python = _ensure_venv()
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])
    for count in workload.host_counts(args.hosts):
        print(json.dumps(run(args, count)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
