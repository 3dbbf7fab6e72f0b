"""A host's CPUs, memory and NUMA nodes from sysfs (``devices/system/{cpu,node}``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_MEMTOTAL_RE = re.compile(r"MemTotal:\s+(\d+)\s+kB")


@dataclass(frozen=True)
class NumaNode:
    id: int
    cpus: tuple[int, ...]
    memory_mb: int


@dataclass(frozen=True)
class HostTopology:
    vcpus: int
    memory_mb: int
    nodes: tuple[NumaNode, ...] = field(default_factory=tuple)


def parse_cpulist(text: str) -> tuple[int, ...]:
    """``0-3,8,10-11`` → (0, 1, 2, 3, 8, 10, 11); garbage parts are skipped."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        if first.isdigit() and (not last or last.isdigit()):
            cpus.extend(range(int(first), int(last or first) + 1))
    return tuple(cpus)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _memory_mb(meminfo: str) -> int:
    match = _MEMTOTAL_RE.search(meminfo)
    return int(match[1]) // 1024 if match else 0


def read_topology(root: Path) -> HostTopology:
    system = root / "sys" / "devices" / "system"
    online = parse_cpulist(_read(system / "cpu" / "online"))
    nodes = []
    node_dirs = sorted(system.glob("node/node[0-9]*"), key=lambda p: int(p.name[4:]))
    for node_dir in node_dirs:
        nodes.append(NumaNode(int(node_dir.name[4:]), parse_cpulist(_read(node_dir / "cpulist")),
                              _memory_mb(_read(node_dir / "meminfo"))))  # fmt: skip
    memory = _memory_mb(_read(root / "proc" / "meminfo")) or sum(n.memory_mb for n in nodes)
    return HostTopology(len(online), memory, tuple(nodes))
