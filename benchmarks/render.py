"""docs/performance.md from the benchmarks' JSON lines (see report.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Results = Mapping[str, Sequence[Mapping[str, Any]]]
COLUMNS = {
    "schedule": ("hosts", "vfs_per_host", "decisions", "fits", "p50_ms", "p99_ms", "max_ms",
                 "index_build_s"),
    "claims": ("backend", "processes", "threads", "host_subset_size", "hosts", "requested",
               "claimed", "lost_races",
               "claims_per_s", "p50_ms", "p99_ms", "warm_s"),
    "nova_peer": ("hosts", "vfs_per_host", "decisions", "fits", "p50_ms", "p99_ms", "max_ms",
                  "stats_build_s"),
    "boot": ("clients", "servers", "active", "errors", "p50_ms", "p99_ms", "db_p50_ms",
             "db_p99_ms", "boots_per_s", "server_peak_rss_mb"),
    "agent": ("vfs", "ports", "bind_api_s", "apply_s", "release_s"),
    "memory": ("hosts", "vfs", "populate_s", "start_to_first_placement_s",
               "boot_placement_p50_ms", "server_rss_mb", "server_peak_rss_mb"),
}  # fmt: skip


def _one(results: Results, source: str, **match: Any) -> Mapping[str, Any] | None:
    for line in results.get(source, ()):
        if all(line.get(k) == v for k, v in match.items()):
            return line
    return None


def _field(line: Mapping[str, Any] | None, key: str) -> float | None:
    value = None if line is None else line.get(key)
    return float(value) if isinstance(value, int | float) else None


def _claims(results: Results, backend: str, processes: int) -> float | None:
    line = _one(results, "schedule", bench="claims", backend=backend, processes=processes)
    return _field(line, "claims_per_s")


Target = tuple[str, float | None, str, Callable[[float], bool]]


def _targets(results: Results) -> list[Target]:
    big = _one(results, "schedule", bench="schedule", hosts=10000)
    small = _one(results, "schedule", bench="schedule", hosts=1000)
    nova = _one(results, "nova_peer", hosts=1000)
    boot = _one(results, "boot", clients=16)
    memory = _one(results, "memory", hosts=10000)
    p50_big, p50_small = _field(big, "p50_ms"), _field(small, "p50_ms")
    nova_p50 = _field(nova, "p50_ms")
    ratio = nova_p50 / p50_small if nova_p50 and p50_small else None
    flat = p50_big / p50_small if p50_big and p50_small else None
    sqlite, postgres = _claims(results, "sqlite", 1), _claims(results, "postgresql", 2)
    return [
        ("decision p50 at 10,000 hosts x 128 VFs", p50_big, "ms, <= 0.5", lambda v: v <= 0.5),
        ("decision p99 at 10,000 hosts", _field(big, "p99_ms"), "ms, <= 2", lambda v: v <= 2),
        ("p50 at 10,000 hosts / p50 at 1,000 hosts", flat, "x, <= 2", lambda v: v <= 2),
        ("Nova PciDeviceStats p50 / vfplane p50, 1,000 hosts", ratio, "x, >= 5,000",
         lambda v: v >= 5000),
        ("claims/s on SQLite (one server process)", sqlite, "/s, >= 300", lambda v: v >= 300),
        ("claims/s on PostgreSQL, two server processes", postgres, "/s, > SQLite's",
         lambda v: sqlite is not None and v > sqlite),
        ("POST to ACTIVE p50, 16 clients, vfplane up", _field(boot, "p50_ms"), "ms, <= 100",
         lambda v: v <= 100),
        ("boots/s, 16 clients", _field(boot, "boots_per_s"), "/s, >= 50", lambda v: v >= 50),
        ("server peak RSS, 10,000 hosts and 1.28 M VFs", _field(memory, "server_peak_rss_mb"),
         "MiB, <= 1,536", lambda v: v <= 1536),
    ]  # fmt: skip


def _target_table(results: Results) -> list[str]:
    rows = ["| target | measured | met |", "|---|---|---|"]
    for name, value, unit, met in _targets(results):
        shown = "not measured" if value is None else f"{value:,.3g} {unit}"
        verdict = "-" if value is None else ("yes" if met(value) else "**no**")
        rows.append(f"| {name} | {shown} | {verdict} |")
    return rows


def _table(lines: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    if not lines:
        return ["(no result)"]
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for line in lines:
        rows.append("| " + " | ".join(str(line.get(c, "")) for c in columns) + " |")
    return rows


def _sections(results: Results) -> list[str]:
    out: list[str] = []
    schedule = [r for r in results.get("schedule", ()) if r.get("bench") == "schedule"]
    claims = [r for r in results.get("schedule", ()) if r.get("bench") == "claims"]
    for title, lines, columns in (
        ("Scheduling decisions (`schedule.py`, no database)", schedule, COLUMNS["schedule"]),
        ("Nova's PciDeviceStats on the same cloud (`nova_peer.py`)", results.get("nova_peer", ()),
         COLUMNS["nova_peer"]),
        ("Claims per second with the database (`claims.py`, via `schedule.py`)", claims,
         COLUMNS["claims"]),
        ("End to end on `vfplane up` (`boot.py`)", results.get("boot", ()), COLUMNS["boot"]),
        ("Agent: 2 x 128 VFs from a desired-state change to reported (`agent.py`)",
         results.get("agent", ()), COLUMNS["agent"]),
        ("A large cloud registered in a real server (`memory.py`)", results.get("memory", ()),
         COLUMNS["memory"]),
    ):  # fmt: skip
        out += ["", f"## {title}", "", *_table(lines, columns)]
    return out


def render(
    results: Results, machine: Mapping[str, str], problems: Sequence[str], elapsed: float,
    sizes: Mapping[str, Sequence[str]], quick: bool,
) -> str:  # fmt: skip
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Performance", "",
             f"Written by `benchmarks/run` on {now} in {elapsed / 60:.1f} minutes"
             + (" with `--quick` sizes (not numbers to quote)." if quick else "."), "",
             "## Targets (issue 6)", "", *_target_table(results)]  # fmt: skip
    if problems:
        lines += ["", "Problems in this run:", "", *(f"- {p}" for p in problems)]
    lines += _sections(results)
    lines += ["", "## The machine", "", *(f"- {k}: {v}" for k, v in machine.items())]
    lines += [
        "",
        "## How to rerun",
        "",
        "    make deps && benchmarks/run",
        "",
        "or one benchmark at a time (each prints one JSON line per configuration):",
        "",
    ]
    lines += [f"    {'python3' if n == 'nova_peer' else '.venv/bin/python'} benchmarks/{n}.py "
              f"{' '.join(a)}".rstrip() for n, a in sizes.items()]  # fmt: skip
    lines += ["", NOTES]
    analysis = Path(__file__).resolve().parent.parent / "docs" / "performance-analysis.md"
    if analysis.exists():
        lines += ["", analysis.read_text().rstrip()]
    return "\n".join(lines) + "\n"


NOTES = """## Reading the numbers

- The machine is shared and has two cores; the load average before and after the run is
  above. Runs while other work is under way show longer tails (p99, max): a process that is
  not on a core waits for one.
- `schedule.py` times `schedule(request, catalog)` over a `HostCatalog` built once, as the
  server's `HostView` holds it; nothing is claimed between decisions. The first decision of
  each request shape builds that shape's candidate set.
- `nova_peer.py` times only the PCI part of Nova's filtering (`support_requests` per host,
  and per host NUMA cell for guests with a NUMA topology); vfplane's decision also checks
  capacity, weighs, ranks and explains every rejection. Both run on the same synthetic cloud
  and requests (`workload.py`).
- Claims include everything a boot's placement does with the database: catching up with the
  hosts other processes changed, deciding, and claiming the devices in a transaction that
  can never hand a device out twice (a lost race tries the next candidate).
- `memory.py` writes the cloud into the database directly (bulk inserts), then starts a real
  server on it; boots there stay in BUILD since no agent runs.
- See `benchmarks/README.md` for what each benchmark does in detail.
"""
