"""Run every benchmark at a size that ends in minutes here and write docs/performance.md.

Usage: .venv/bin/python benchmarks/report.py [--quick] [--out docs/performance.md]

Each benchmark runs as its own process (Nova's in its side virtual environment);
their JSON lines are kept in ``benchmarks/results.json`` and rendered with the
targets of issue 6, the machine and how to rerun. ``--quick`` shrinks every size
(for trying the pipeline, not for numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from render import render

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable

FULL = {
    "schedule": ["--hosts", "1000,10000", "--requests", "2000", "--claims-runs",
                 "sqlite:1,postgresql:1,postgresql:2", "--claims-hosts", "1000",
                 "--claims-requests", "1000"],
    "nova_peer": ["--hosts", "1000", "--requests", "20"],
    "boot": ["--clients", "16", "--servers", "200"],
    "agent": [],
    "memory": ["--hosts", "10000", "--boots", "20"],
}  # fmt: skip
QUICK = {
    "schedule": ["--hosts", "200,400", "--requests", "200", "--claims-runs", "sqlite:1",
                 "--claims-hosts", "200", "--claims-requests", "100"],
    "nova_peer": ["--hosts", "200", "--requests", "3"],
    "boot": ["--clients", "4", "--servers", "20"],
    "agent": ["--ports", "32"],
    "memory": ["--hosts", "300", "--boots", "3"],
}  # fmt: skip
TIME_LIMIT_S = {"schedule": 240, "nova_peer": 900, "boot": 180, "agent": 180, "memory": 300}


def _run(name: str, args: Sequence[str]) -> tuple[list[dict[str, Any]], str]:
    """The JSON lines of one benchmark, and what went wrong (empty when nothing did)."""
    python = "python3" if name == "nova_peer" else PYTHON  # it makes its own environment
    command = [python, str(HERE / f"{name}.py"), *args]
    print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              timeout=TIME_LIMIT_S[name])  # fmt: skip
    except subprocess.TimeoutExpired:
        return [], f"{name} did not finish in {TIME_LIMIT_S[name]} s"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    print(f"  {name}: {len(lines)} lines in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return lines, f"{name} exited with {done.returncode}: {tail}"
    return lines, ""


def _machine() -> dict[str, str]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())  # fmt: skip
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))  # fmt: skip
    postgres = subprocess.run(["psql", "-V"], capture_output=True, text=True).stdout.strip()
    return {"cpu": f"{model} ({os.cpu_count()} cores)", "memory": f"{memory_kb // 1024**2} GiB",
            "os": platform.platform(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "postgresql": postgres or "not found",
            "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}  # fmt: skip


def _render_saved(out: Path, sizes: dict[str, list[str]], quick: bool) -> int:
    saved = json.loads((HERE / "results.json").read_text())
    out.write_text(render(saved["results"], saved["machine"], saved["problems"],
                          saved["elapsed"], sizes, quick))  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to try the pipeline")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="write the page from benchmarks/results.json, running nothing",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.render_only:
        return _render_saved(args.out, sizes, args.quick)
    wanted = [n for n in sizes if not args.only or n in args.only.split(",")]
    started = time.monotonic()
    machine = {**_machine(), "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    results: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    for name in wanted:
        lines, problem = _run(name, sizes[name])
        results[name] = lines
        if problem:
            problems.append(problem)
    machine.pop("load")
    machine["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    elapsed = time.monotonic() - started
    saved = {"machine": machine, "problems": problems, "elapsed": elapsed, "results": results}
    (HERE / "results.json").write_text(json.dumps(saved, indent=1) + "\n")
    args.out.write_text(render(results, machine, problems, elapsed, sizes, args.quick))
    print(f"wrote {args.out} ({elapsed:.0f} s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
