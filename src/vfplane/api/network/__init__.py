"""Neutron v2.0 under ``/network/v2.0``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vfplane.api.deps import Caller
from vfplane.api.network import agents, networks, port_bindings, ports, qos, subnets
from vfplane.errors import NotFound

router = APIRouter(prefix="/network/v2.0")

EXTENSIONS = [
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("binding-extended", "Port Bindings Extended", "Expose port bindings of a virtual port"),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("port-security", "Port Security", "Provides port security"),
    ("qos", "Quality of Service", "The Quality of Service extension."),
    ("qos-bw-limit-direction", "Direction for QoS bandwidth limit rule", "Egress only"),
    ("port-trusted-vif", "Port trusted vif", "Expose port 'trusted' attribute"),
    ("agent", "agent", "The agent management extension."),
    ("vfplane-binding-explain", "Binding explanations", "binding:failure_reasons per driver"),
]


def _extension(alias: str, name: str, description: str) -> dict[str, Any]:
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "updated": "2026-11-01T00:00:00-00:00",
        "links": [],
    }


@router.get("/extensions", tags=["network"], summary="List API extensions")
def list_extensions(_caller: Caller) -> dict[str, Any]:
    return {"extensions": [_extension(*e) for e in EXTENSIONS]}


@router.get("/extensions/{alias}", tags=["network"], summary="Show an API extension")
def show_extension(alias: str, _caller: Caller) -> dict[str, Any]:
    for entry in EXTENSIONS:
        if entry[0] == alias:
            return {"extension": _extension(*entry)}
    raise NotFound(f"Extension with alias {alias} does not exist", kind="ExtensionNotFound")


router.include_router(networks.router)
router.include_router(ports.router)
router.include_router(port_bindings.router)
router.include_router(agents.router)
router.include_router(qos.router)
router.include_router(subnets.router)
