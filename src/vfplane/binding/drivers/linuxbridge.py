"""``linuxbridge``: ``normal`` ports on a Linux bridge (``bridge``)."""

from __future__ import annotations

from vfplane.binding.drivers._agents import check_host_agent
from vfplane.domain.binding import (
    LINUX_BRIDGE_AGENT,
    BindingResult,
    PortContext,
    Refusal,
    RefusalKind,
)
from vfplane.domain.networks import NetworkType, VifType, VnicType

NETWORK_TYPES = (NetworkType.FLAT, NetworkType.VLAN)


class LinuxBridgeDriver:
    name = "linuxbridge"

    def bind(self, context: PortContext) -> BindingResult | Refusal:
        if context.vnic_type != VnicType.NORMAL:
            return Refusal(
                f"vnic_type {context.vnic_type} is not handled by {self.name}",
                RefusalKind.VNIC_TYPE_NOT_HANDLED,
            )
        network_type = context.network.network_type
        if network_type not in NETWORK_TYPES:
            return Refusal(
                f"network type {network_type} is not supported (flat, vlan)",
                RefusalKind.NETWORK_TYPE_NOT_SUPPORTED,
            )
        refusal = check_host_agent(context, LINUX_BRIDGE_AGENT, "interface_mappings")
        if refusal is not None:
            return refusal
        return BindingResult(VifType.BRIDGE, {"port_filter": True, "connectivity": "l2"})
