"""Helpers shared by the port, binding and agent tests."""

from __future__ import annotations

from typing import Any

from tests.functional.api.conftest import Api

NETS = "/network/v2.0/networks"
SUBNETS = "/network/v2.0/subnets"
PORTS = "/network/v2.0/ports"
AGENTS = "/network/v2.0/agents"
HEARTBEAT = "/v1/agents/heartbeat"
NIC_SWITCH = "NIC Switch agent"
LINUX_BRIDGE = "Linux bridge agent"


def make_network(
    api: Api,
    who: str = "admin",
    *,
    kind: str | None = "vlan",
    physnet: str = "physnet1",
    vlan: int | None = 100,
    **extra: Any,
) -> str:
    body: dict[str, Any] = {"name": "net", **extra}
    if kind is not None:
        body["provider:network_type"] = kind
        body["provider:physical_network"] = physnet
        if vlan is not None:
            body["provider:segmentation_id"] = vlan
    response = api.post(who, NETS, {"network": body})
    assert response.status_code == 201, response.text
    return str(response.json()["network"]["id"])


def make_subnet(api: Api, network_id: str, cidr: str = "10.0.0.0/24", who: str = "admin") -> str:
    version = 6 if ":" in cidr else 4
    body = {"subnet": {"network_id": network_id, "cidr": cidr, "ip_version": version}}
    response = api.post(who, SUBNETS, body)
    assert response.status_code == 201, response.text
    return str(response.json()["subnet"]["id"])


def create_port(api: Api, who: str, network_id: str, **attrs: Any) -> Any:
    return api.post(who, PORTS, {"port": {"network_id": network_id, **attrs}})


def make_port(api: Api, who: str, network_id: str, **attrs: Any) -> dict[str, Any]:
    response = create_port(api, who, network_id, **attrs)
    assert response.status_code == 201, response.text
    port: dict[str, Any] = response.json()["port"]
    return port


def update_port(api: Api, who: str, port_id: str, **attrs: Any) -> Any:
    return api.put(who, f"{PORTS}/{port_id}", {"port": attrs})


def show_port(api: Api, who: str, port_id: str) -> dict[str, Any]:
    response = api.get(who, f"{PORTS}/{port_id}")
    assert response.status_code == 200, response.text
    port: dict[str, Any] = response.json()["port"]
    return port


def heartbeat(
    api: Api,
    host: str = "compute-1",
    agent_type: str = NIC_SWITCH,
    mappings: dict[str, list[str]] | None = None,
    who: str | None = "agent",
) -> Any:
    key = "device_mappings" if agent_type == NIC_SWITCH else "interface_mappings"
    configurations = {key: {"physnet1": ["ens1f0"]} if mappings is None else mappings}
    binary = "vfplane-agent"
    body = {"host": host, "agent_type": agent_type, "binary": binary,
            "configurations": configurations}  # fmt: skip
    return api.post(who, HEARTBEAT, body)


def error(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    return body.get("NeutronError") or body["error"]
