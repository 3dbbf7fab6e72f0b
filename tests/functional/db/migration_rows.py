"""Representative rows for every table, as the newest schema has them.

A row is inserted with only the columns its table has at the revision under test, so the
same rows serve every revision; columns added later must get their server defaults.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, MetaData, Table, inspect, select

T0 = datetime(2026, 1, 2, 3, 4, 5)
P, U, R, Q, N, S, PORT = "p" * 8, "u" * 8, "r" * 8, "q" * 8, "n" * 8, "s" * 8, "t" * 8
VM = "v" * 8
STAMPS = {"created_at": T0, "updated_at": T0, "revision_number": 3}

# In an order that inserts every row after the rows it refers to.
ROWS: list[tuple[str, dict[str, Any]]] = [
    ("projects", {"id": P, "name": "proj", "domain_id": "default", "description": "d",
                  "enabled": True}),
    ("roles", {"id": R, "name": "member"}),
    ("users", {"id": U, "name": "alice", "domain_id": "default", "password_hash": "h$1",
               "enabled": True, "default_project_id": P, "host": None}),
    ("role_assignments", {"user_id": U, "project_id": P, "role_id": R}),
    ("tokens", {"digest": "d" * 64, "user_id": U, "project_id": P, "audit_id": "a1",
                "issued_at": T0, "expires_at": T0, "revoked": False}),
    ("qos_policies", {"id": Q, "project_id": P, "name": "gold", "description": "",
                      "shared": True, "is_default": False, **STAMPS}),
    ("qos_rules", {"id": "qr", "policy_id": Q, "rule_type": "bandwidth_limit",
                   "direction": "egress", "max_kbps": 1000, "max_burst_kbps": 100,
                   "min_kbps": None}),
    ("networks", {"id": N, "project_id": P, "name": "net", "description": "",
                  "admin_state_up": True, "status": "ACTIVE", "shared": False, "mtu": 1500,
                  "network_type": "vlan", "physical_network": "physnet1",
                  "segmentation_id": 101, "port_profile": None, "qos_policy_id": Q, **STAMPS}),
    ("subnets", {"id": S, "project_id": P, "network_id": N, "name": "sub", "description": "",
                 "ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1",
                 "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.254"}],
                 "dns_nameservers": ["10.0.0.53"], "host_routes": [], "enable_dhcp": True,
                 "ipv6_ra_mode": None, "ipv6_address_mode": None, **STAMPS}),
    ("ports", {"id": PORT, "project_id": P, "network_id": N, "name": "port", "description": "",
               "mac_address": "fa:16:3e:00:00:01", "admin_state_up": True, "status": "DOWN",
               "device_id": VM, "device_owner": "compute:nova", "port_security_enabled": True,
               "qos_policy_id": None, "trusted": None, "propagate_uplink_status": False,
               "status_reason": None, **STAMPS}),
    ("ip_allocations", {"subnet_id": S, "ip_address": "10.0.0.5", "port_id": PORT}),
    ("port_bindings", {"port_id": PORT, "host": "compute-1", "vnic_type": "direct",
                       "profile": {"pci_slot": "0000:3b:02.0"}, "vif_type": "hw_veb",
                       "vif_details": {"vlan": "101"}, "status": "ACTIVE",
                       "failure_reasons": []}),
    ("agents", {"id": "ag", "agent_type": "NIC Switch agent", "binary": "vfplane-agent",
                "host": "compute-1", "topic": "N/A", "admin_state_up": True,
                "configurations": {"device_mappings": {"physnet1": ["ens1f0"]}},
                "started_at": T0, "created_at": T0, "heartbeat_at": T0, "description": ""}),
    ("hosts", {"name": "compute-1", "vcpus": 8, "memory_mb": 8192,
               "numa_topology": [{"id": 0}], "configurations": {}, "revision": 2,
               "inventory_generation": 1, "schedule_seq": 0, "created_at": T0,
               "updated_at": T0}),
    ("pci_devices", {"id": "dev", "host": "compute-1", "address": "0000:3b:02.0",
                     "vendor_id": "8086", "product_id": "154c", "dev_type": "type-VF",
                     "parent_addr": "0000:3b:00.0", "numa_node": 0, "driver": "iavf",
                     "ifname": None, "pf_ifname": "ens1f0", "vf_index": 0, "mac": None,
                     "iommu_group": 40, "physical_network": "physnet1",
                     "tags": {"physical_network": "physnet1"}, "status": "allocated",
                     "instance_id": VM, "request_id": "rq", "generation": 4,
                     "saved_original": {"mac": "00:00:00:00:00:00", "vlan": 0}}),
    ("flavors", {"id": "fl", "name": "m1.small", "vcpus": 1, "ram": 512, "disk": 1, "swap": 0,
                 "ephemeral": 0, "rxtx_factor": 1.0, "is_public": False, "disabled": False,
                 "description": None, "created_at": T0}),
    ("flavor_extra_specs", {"flavor_id": "fl", "key": "hw:numa_nodes", "value": "1"}),
    ("flavor_access", {"flavor_id": "fl", "project_id": P}),
    ("images", {"id": "im", "name": "cirros", "owner": P, "status": "active",
                "visibility": "public", "disk_format": "qcow2", "container_format": "bare",
                "min_disk": 0, "min_ram": 0, "size": 5 << 32, "location": "/images/c.qcow2",
                "properties": {"os": "cirros"}, "tags": ["t"], "created_at": T0,
                "updated_at": T0}),
    ("servers", {"id": VM, "project_id": P, "user_id": U, "name": "vm", "flavor_id": "fl",
                 "flavor": {"vcpus": 1}, "image_id": "im", "image_location": None,
                 "host": "compute-1", "vm_state": "active", "task_state": None,
                 "power_state": 1, "status": "ACTIVE", "fault": None,
                 "ports": [{"port_id": PORT}], "created_ports": [], "pci_requests": [],
                 "explanation": None, "domain_xml": "<domain/>", "generation": 0,
                 "reboot_type": None, "numa_nodes": [], "created_at": T0,
                 "updated_at": T0, "launched_at": T0, "deleted_at": None}),
    ("instance_actions", {"id": "ia", "server_id": VM, "action": "create",
                          "request_id": "req-1", "user_id": U, "project_id": P,
                          "start_time": T0, "finish_time": T0, "result": "Success",
                          "message": None}),
    ("events", {"id": 1, "kind": "no_valid_host", "created_at": T0, "project_id": P,
                "server_id": VM, "port_id": PORT, "host": None, "request_id": "req-1",
                "message": "no host", "details": {"hosts": []}}),
]  # fmt: skip


def _tables(connection: Connection) -> dict[str, Table]:
    metadata = MetaData()
    names = set(inspect(connection).get_table_names()) - {"alembic_version"}
    return {name: Table(name, metadata, autoload_with=connection) for name in names}


def insert_rows(connection: Connection) -> dict[str, dict[str, Any]]:
    """Insert the rows whose tables exist now; returns what was inserted, by table."""
    tables = _tables(connection)
    inserted = {}
    for name, row in ROWS:
        if name in tables:
            values = {k: v for k, v in row.items() if k in tables[name].columns}
            connection.execute(tables[name].insert().values(values))
            inserted[name] = values
    return inserted


def read_rows(connection: Connection, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables ``names``, as dicts."""
    tables = _tables(connection)
    return {name: [dict(r._mapping) for r in connection.execute(select(tables[name]))]
            for name in names}  # fmt: skip
