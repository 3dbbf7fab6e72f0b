"""``qbh``: Cisco VM-FEX ports (802.1Qbh) identified by a port profile id."""

from __future__ import annotations

from vfplane.binding.drivers._agents import check_host_agent
from vfplane.domain.binding import (
    NIC_SWITCH_AGENT,
    BindingResult,
    PortContext,
    Refusal,
    RefusalKind,
)
from vfplane.domain.networks import NetworkType, VifType, VnicType

SUPPORTED_VNIC_TYPES = (VnicType.DIRECT, VnicType.MACVTAP)


class QbhDriver:
    name = "qbh"

    def bind(self, context: PortContext) -> BindingResult | Refusal:
        if context.vnic_type not in SUPPORTED_VNIC_TYPES:
            return Refusal(
                f"vnic_type {context.vnic_type} is not handled by {self.name}",
                RefusalKind.VNIC_TYPE_NOT_HANDLED,
            )
        network = context.network
        if network.network_type != NetworkType.VLAN:
            return Refusal(
                f"network type {network.network_type} is not supported (vlan only)",
                RefusalKind.NETWORK_TYPE_NOT_SUPPORTED,
            )
        profile_id = context.profile.get("profileid") or network.port_profile
        if not profile_id:
            return Refusal(
                f"no profileid: binding:profile has none and network {network.id} has no "
                "vfplane:port_profile",
                RefusalKind.NO_PROFILEID,
            )
        refusal = check_host_agent(context, NIC_SWITCH_AGENT, "device_mappings")
        if refusal is not None:
            return refusal
        details = {"profileid": str(profile_id), "port_filter": False, "connectivity": "l2"}
        return BindingResult(VifType.QBH, details)
