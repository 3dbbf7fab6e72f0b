"""Claims per second including the database: decide and claim, as a boot does.

Usage: .venv/bin/python benchmarks/claims.py --hosts 1000 --pfs 2 --vfs 64 --physnets 4 \
           --requests 2000 --runs sqlite:1,postgresql:1,postgresql:2 \
           [--threads 1] [--host-subset-size 10] \
           [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

For each run ``backend:processes`` a fresh database gets the synthetic cloud of
``workload.py``; then ``processes`` worker processes (each a server process's
``HostView``, warmed up outside the timing) share the boot requests and call
``servers.claim_best`` for each: catch up with the database, schedule, claim the
devices in a transaction (trying the next candidate on a lost race). Each process
has ``--threads`` claims in flight at once, as a server has concurrent requests,
and draws its first host from the best ``--host-subset-size`` (``[compute]
host_subset_size``, what an operator sets when several server processes schedule);
every run, SQLite's too, uses the same two. Claims stay claimed, so later decisions
see a fuller cloud. One JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cloud_db
import vfplane_input
import workload
from sqlalchemy import create_engine, text

from vfplane.db.engine import make_engine, make_session_factory
from vfplane.domain.scheduling import InstanceRequest
from vfplane.service.host_view import ComputeConfig, HostView
from vfplane.service.servers import claim_best

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


class _LostRaces(logging.Handler):
    """Counts the claims that lost a race (``servers`` logs each at INFO)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "lost a race" in record.getMessage()


def _claim_all(sessions: Any, view: HostView, requests: list[Any], timings: list[float]) -> int:
    claimed = 0
    for request in requests:
        start = time.perf_counter()
        with sessions() as session:
            candidate, _ = claim_best(session, str(uuid.uuid4()), request, view)
        timings.append((time.perf_counter() - start) * 1000.0)
        claimed += candidate is not None
    return claimed


def _worker(
    url: str, boots: list[workload.BootRequest], options: tuple[int, int], barrier: Any,
    results: Any,
) -> None:  # fmt: skip
    """One server process: ``threads`` requests in flight at once, one ``HostView``."""
    subset, threads = options
    lost = _LostRaces()
    logger = logging.getLogger("vfplane.service.servers")
    logger.addHandler(lost)
    logger.setLevel(logging.INFO)
    sessions = make_session_factory(make_engine(url))
    view = HostView(ComputeConfig(host_subset_size=subset))
    warm_start = time.perf_counter()
    with sessions() as session:
        view.decide(session, InstanceRequest(1, 1))  # reads every host, untimed
    warm_s = time.perf_counter() - warm_start
    requests = [vfplane_input.to_request(boot) for boot in boots]
    timings: list[float] = []
    barrier.wait()
    with ThreadPoolExecutor(threads) as pool:
        shares = [requests[i::threads] for i in range(threads)]
        claimed = sum(pool.map(lambda share: _claim_all(sessions, view, share, timings), shares))
    results.put({"timings": timings, "claimed": claimed, "lost": lost.count,
                 "end": time.time(), "warm_s": warm_s})  # fmt: skip


def _database(backend: str, postgres_url: str, workdir: Path) -> tuple[str, Any]:
    """A fresh database URL and a function that drops it."""
    if backend == "sqlite":
        path = workdir / f"claims-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    name = f"vfplane_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return f"{postgres_url.rsplit('/', 1)[0]}/{name}", drop


def run(args: argparse.Namespace, backend: str, processes: int, workdir: Path) -> dict[str, Any]:
    url, drop = _database(backend, args.postgres_url, workdir)
    try:
        start = time.perf_counter()
        engine = make_engine(url)
        hosts = workload.build_hosts(args.hosts_count, args.pfs, args.vfs, args.physnets)
        devices = cloud_db.populate(engine, hosts)
        engine.dispose()
        populate_s = time.perf_counter() - start
        boots = workload.build_requests(args.requests, args.physnets, args.seed)
        measured = _measure(url, boots, processes, (args.host_subset_size, args.threads))
        return {**measured, "bench": "claims", "backend": backend,
                "host_subset_size": args.host_subset_size, "processes": processes,
                "threads": args.threads,
                "hosts": args.hosts_count,
                "vfs_per_host": args.pfs * args.vfs, "devices": devices,
                "requested": args.requests, "populate_s": round(populate_s, 1)}  # fmt: skip
    finally:
        drop()


def _measure(
    url: str, boots: list[workload.BootRequest], processes: int, options: tuple[int, int]
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    workers = [
        context.Process(target=_worker, args=(url, boots[i::processes], options, barrier, results))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    began = time.time()
    found = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    wall = max(r["end"] for r in found) - began
    timings = sorted(t for r in found for t in r["timings"])
    claimed = sum(r["claimed"] for r in found)
    return {"claimed": claimed, "no_valid_host": len(timings) - claimed,
            "lost_races": sum(r["lost"] for r in found), "wall_s": round(wall, 2),
            "claims_per_s": round(claimed / wall, 1),
            "p50_ms": round(workload.percentile(timings, 0.5), 2),
            "p99_ms": round(workload.percentile(timings, 0.99), 2),
            "warm_s": round(max(r["warm_s"] for r in found), 2)}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default="sqlite:1,postgresql:1,postgresql:2",
                        help="backend:processes, comma-separated")  # fmt: skip
    parser.add_argument("--threads", type=int, default=1,
                        help="claims in flight at once in each process")  # fmt: skip
    parser.add_argument("--host-subset-size", type=int, default=10,
                        help="[compute] host_subset_size of every process")  # fmt: skip
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES,
                        help="an admin URL; each run creates and drops a database")  # fmt: skip


def run_all(args: argparse.Namespace, hosts_count: int) -> list[dict[str, Any]]:
    args.hosts_count = hosts_count
    lines = []
    with tempfile.TemporaryDirectory(prefix="vfplane-claims-") as workdir:
        for item in args.runs.split(","):
            backend, _, processes = item.strip().partition(":")
            lines.append(run(args, backend, int(processes or 1), Path(workdir)))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    workload.add_common_arguments(parser)
    parser.add_argument("--requests", type=int, default=2000)
    add_arguments(parser)
    args = parser.parse_args(argv)
    for count in workload.host_counts(args.hosts):
        for line in run_all(args, count):
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
