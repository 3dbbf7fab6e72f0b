"""``sriovnicswitch``: SR-IOV VFs (``hw_veb``) and whole PFs (``hostdev_physical``)."""

from __future__ import annotations

from vfplane.binding.drivers._agents import check_host_agent
from vfplane.domain.binding import (
    NIC_SWITCH_AGENT,
    BindingResult,
    PortContext,
    Refusal,
    RefusalKind,
)
from vfplane.domain.networks import NetworkType, PortStatus, VifType, VnicType

SUPPORTED_VNIC_TYPES = (VnicType.DIRECT, VnicType.MACVTAP, VnicType.DIRECT_PHYSICAL)
NETWORK_TYPES = (NetworkType.FLAT, NetworkType.VLAN)


class SriovNicSwitchDriver:
    name = "sriovnicswitch"

    def bind(self, context: PortContext) -> BindingResult | Refusal:
        refusal = self._refusal(context)
        if refusal is not None:
            return refusal
        network = context.network
        details = {
            "port_filter": False,
            "connectivity": "l2",
            "vlan": str(network.segmentation_id or 0),
        }
        if context.vnic_type == VnicType.DIRECT_PHYSICAL:
            return BindingResult(VifType.HOSTDEV_PHYSICAL, details, PortStatus.ACTIVE)
        return BindingResult(VifType.HW_VEB, details)

    def _refusal(self, context: PortContext) -> Refusal | None:
        if context.vnic_type not in SUPPORTED_VNIC_TYPES:
            return Refusal(
                f"vnic_type {context.vnic_type} is not handled by {self.name}",
                RefusalKind.VNIC_TYPE_NOT_HANDLED,
            )
        if context.profile.get("profileid"):
            return Refusal("profileid given: 802.1Qbh port, left to qbh", RefusalKind.LEFT_TO_QBH)
        network = context.network
        if network.port_profile:
            return Refusal(
                f"network {network.id} has port profile {network.port_profile}: "
                "802.1Qbh port, left to qbh",
                RefusalKind.LEFT_TO_QBH,
            )
        if network.network_type not in NETWORK_TYPES:
            return Refusal(
                f"network type {network.network_type} is not supported (flat, vlan)",
                RefusalKind.NETWORK_TYPE_NOT_SUPPORTED,
            )
        if context.vnic_type == VnicType.DIRECT_PHYSICAL:
            return None  # a whole PF needs no agent: it has no VF settings to apply
        return check_host_agent(context, NIC_SWITCH_AGENT, "device_mappings")
