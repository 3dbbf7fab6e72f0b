"""The synthetic cloud of ``workload.py`` written into a vfplane database.

Rows go in with bulk inserts (registering 10,000 hosts through the agent API
would take longer than the benchmarks themselves); the schema is vfplane's own,
migrated to head, and every host gets a schedule stamp as registration gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import workload
from sqlalchemy import Engine, insert

from vfplane.agent.loop import AGENT_TYPE, BINARY
from vfplane.db.migrate import upgrade
from vfplane.db.tables import Agent, Host, PciDeviceRecord

ROWS_PER_INSERT = 20_000


def _host_row(host: workload.Host, now: datetime) -> dict[str, object]:
    return {
        "name": host.name, "vcpus": host.vcpus, "memory_mb": host.memory_mb,
        "numa_topology": [{"id": n} for n in host.numa_nodes], "configurations": {},
        "revision": 1, "inventory_generation": 1, "schedule_seq": 1,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


def _device_rows(hosts: Sequence[workload.Host]) -> Iterator[dict[str, object]]:
    for host in hosts:
        for d in host.devices:
            yield {
                "id": str(uuid.uuid4()), "host": host.name, "address": d.address,
                "vendor_id": d.vendor_id, "product_id": d.product_id, "dev_type": d.dev_type,
                "parent_addr": d.parent, "numa_node": d.numa_node,
                "physical_network": d.physnet, "tags": {"physical_network": d.physnet},
                "status": "available", "generation": 1,
            }  # fmt: skip


def _agent_row(host: workload.Host, now: datetime) -> dict[str, object]:
    """A NIC Switch agent that has just reported, mapping the host's physnets to its PFs."""
    mappings: dict[str, list[str]] = {}
    for k, pf in enumerate(d for d in host.devices if d.dev_type == "type-PF"):
        mappings.setdefault(pf.physnet, []).append(f"ens{k + 1}f0")
    return {
        "id": str(uuid.uuid4()), "agent_type": AGENT_TYPE, "binary": BINARY, "host": host.name,
        "topic": "N/A", "admin_state_up": True,
        "configurations": {"device_mappings": mappings, "devices": len(host.devices)},
        "started_at": now, "created_at": now, "heartbeat_at": now, "description": "",
    }  # fmt: skip


def populate(engine: Engine, hosts: Sequence[workload.Host], agents: bool = False) -> int:
    """Migrate and insert ``hosts`` with their devices (and, with ``agents``, an agent each
    that has just reported); returns the number of devices."""
    upgrade(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    count = 0
    with engine.begin() as connection:
        connection.execute(insert(Host), [_host_row(h, now) for h in hosts])
        if agents:
            connection.execute(insert(Agent), [_agent_row(h, now) for h in hosts])
        batch: list[dict[str, object]] = []
        for row in _device_rows(hosts):
            batch.append(row)
            if len(batch) == ROWS_PER_INSERT:
                connection.execute(insert(PciDeviceRecord), batch)
                count, batch = count + len(batch), []
        if batch:
            connection.execute(insert(PciDeviceRecord), batch)
            count += len(batch)
    return count
