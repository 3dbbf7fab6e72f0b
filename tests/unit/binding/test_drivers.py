"""The mechanism drivers: every success and every refusal reason."""

from __future__ import annotations

import pytest

from tests.unit.binding.fakes import HOST, agent, bridge_agent, context
from vfplane.binding.drivers.linuxbridge import LinuxBridgeDriver
from vfplane.binding.drivers.qbh import QbhDriver
from vfplane.binding.drivers.sriovnicswitch import SriovNicSwitchDriver
from vfplane.domain.binding import BindingResult, Refusal, RefusalKind
from vfplane.domain.networks import PortStatus

SRIOV = SriovNicSwitchDriver()
BRIDGE = LinuxBridgeDriver()
QBH = QbhDriver()


def _refusal(result: BindingResult | Refusal) -> str:
    assert isinstance(result, Refusal), result
    return result.reason


def _result(result: BindingResult | Refusal) -> BindingResult:
    assert isinstance(result, BindingResult), result
    return result


@pytest.mark.parametrize("vnic", ["direct", "macvtap"])
def test_sriov_binds_vfs_as_hw_veb(vnic: str) -> None:
    result = _result(SRIOV.bind(context(vnic, agents=(agent(),))))
    assert result.vif_type == "hw_veb"
    assert result.vif_details == {"port_filter": False, "connectivity": "l2", "vlan": "100"}
    assert result.status == PortStatus.DOWN


def test_sriov_flat_network_has_vlan_0() -> None:
    ctx = context(network_type="flat", segment=None, agents=(agent(),))
    assert _result(SRIOV.bind(ctx)).vif_details["vlan"] == "0"


def test_sriov_direct_physical_needs_no_agent() -> None:
    result = _result(SRIOV.bind(context("direct-physical")))
    assert result.vif_type == "hostdev_physical"
    assert result.status == PortStatus.ACTIVE


@pytest.mark.parametrize(
    ("ctx", "reason"),
    [
        (context("normal"), "vnic_type normal is not handled by sriovnicswitch"),
        (context(profile={"profileid": "p"}, agents=(agent(),)),
         "profileid given: 802.1Qbh port, left to qbh"),
        (context(port_profile="pp", agents=(agent(),)),
         "network net-1 has port profile pp: 802.1Qbh port, left to qbh"),
        (context(network_type="vxlan", physnet=None, agents=(agent(),)),
         "network type vxlan is not supported (flat, vlan)"),
        (context(), f"no alive NIC Switch agent on host {HOST} (none has reported)"),
        (context(agents=(agent(host="compute-2"),)),
         f"no alive NIC Switch agent on host {HOST} (none has reported)"),
        (context(agents=(agent(alive=False, age=120),)),
         f"no alive NIC Switch agent on host {HOST} (last heartbeat 120 s ago, "
         "agent_down_time 75 s)"),
        (context(agents=(bridge_agent(),)),
         f"no alive NIC Switch agent on host {HOST} (none has reported)"),
        (context(physnet="physnet2", agents=(agent(physnets=("physnet1", "physnet3")),)),
         f"physnet physnet2 is not in the device_mappings of the agent on {HOST} "
         "(physnet1, physnet3)"),
    ],
)  # fmt: skip
def test_sriov_refusals(ctx: object, reason: str) -> None:
    assert _refusal(SRIOV.bind(ctx)) == reason  # type: ignore[arg-type]


def test_linuxbridge_binds_normal_ports() -> None:
    result = _result(BRIDGE.bind(context("normal", agents=(bridge_agent(),))))
    assert result.vif_type == "bridge"
    assert result.vif_details == {"port_filter": True, "connectivity": "l2"}


@pytest.mark.parametrize(
    ("ctx", "reason"),
    [
        (context("direct"), "vnic_type direct is not handled by linuxbridge"),
        (context("normal", network_type="geneve", agents=(bridge_agent(),)),
         "network type geneve is not supported (flat, vlan)"),
        (context("normal", agents=(agent(),)),
         f"no alive Linux bridge agent on host {HOST} (none has reported)"),
        (context("normal", agents=(bridge_agent(alive=False, age=80),)),
         f"no alive Linux bridge agent on host {HOST} (last heartbeat 80 s ago, "
         "agent_down_time 75 s)"),
        (context("normal", physnet="physnet9", agents=(bridge_agent(),)),
         f"physnet physnet9 is not in the interface_mappings of the agent on {HOST} "
         "(physnet1)"),
    ],
)  # fmt: skip
def test_linuxbridge_refusals(ctx: object, reason: str) -> None:
    assert _refusal(BRIDGE.bind(ctx)) == reason  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "port_profile", "expected"),
    [({"profileid": "from-port"}, "from-net", "from-port"), ({}, "from-net", "from-net")],
)
def test_qbh_binds_with_profileid(
    profile: dict[str, str], port_profile: str, expected: str
) -> None:
    ctx = context("macvtap", profile=profile, port_profile=port_profile, agents=(agent(),))
    result = _result(QBH.bind(ctx))
    assert result.vif_type == "802.1qbh"
    assert result.vif_details == {"profileid": expected, "port_filter": False,
                                  "connectivity": "l2"}  # fmt: skip


@pytest.mark.parametrize(
    ("ctx", "reason"),
    [
        (context("direct-physical", profile={"profileid": "p"}),
         "vnic_type direct-physical is not handled by qbh"),
        (context(network_type="flat", segment=None, profile={"profileid": "p"}),
         "network type flat is not supported (vlan only)"),
        (context(agents=(agent(),)),
         "no profileid: binding:profile has none and network net-1 has no vfplane:port_profile"),
        (context(profile={"profileid": "p"}),
         f"no alive NIC Switch agent on host {HOST} (none has reported)"),
        (context(profile={"profileid": "p"}, agents=(agent(physnets=()),)),
         f"physnet physnet1 is not in the device_mappings of the agent on {HOST} (none)"),
    ],
)  # fmt: skip
def test_qbh_refusals(ctx: object, reason: str) -> None:
    assert _refusal(QBH.bind(ctx)) == reason  # type: ignore[arg-type]


def test_one_alive_agent_among_dead_ones_is_enough() -> None:
    agents = (agent(alive=False, age=300), agent())
    assert isinstance(SRIOV.bind(context(agents=agents)), BindingResult)


@pytest.mark.parametrize(
    ("driver", "ctx", "kind"),
    [
        (SRIOV, context("normal"), RefusalKind.VNIC_TYPE_NOT_HANDLED),
        (SRIOV, context(profile={"profileid": "p"}, agents=(agent(),)), RefusalKind.LEFT_TO_QBH),
        (SRIOV, context(port_profile="pp", agents=(agent(),)), RefusalKind.LEFT_TO_QBH),
        (SRIOV, context(network_type="vxlan", physnet=None, agents=(agent(),)),
         RefusalKind.NETWORK_TYPE_NOT_SUPPORTED),
        (SRIOV, context(), RefusalKind.AGENT_MISSING),
        (SRIOV, context(agents=(agent(alive=False, age=120),)), RefusalKind.AGENT_DOWN),
        (SRIOV, context(physnet="physnet2", agents=(agent(physnets=("physnet1",)),)),
         RefusalKind.PHYSNET_NOT_MAPPED),
        (BRIDGE, context("direct"), RefusalKind.VNIC_TYPE_NOT_HANDLED),
        (BRIDGE, context("normal", network_type="geneve", agents=(bridge_agent(),)),
         RefusalKind.NETWORK_TYPE_NOT_SUPPORTED),
        (BRIDGE, context("normal", agents=(bridge_agent(alive=False, age=80),)),
         RefusalKind.AGENT_DOWN),
        (QBH, context("direct-physical", profile={"profileid": "p"}),
         RefusalKind.VNIC_TYPE_NOT_HANDLED),
        (QBH, context(network_type="flat", segment=None, profile={"profileid": "p"}),
         RefusalKind.NETWORK_TYPE_NOT_SUPPORTED),
        (QBH, context(agents=(agent(),)), RefusalKind.NO_PROFILEID),
        (QBH, context(profile={"profileid": "p"}, agents=(agent(physnets=()),)),
         RefusalKind.PHYSNET_NOT_MAPPED),
    ],
)  # fmt: skip
def test_every_refusal_says_its_kind_in_a_word(
    driver: SriovNicSwitchDriver | LinuxBridgeDriver | QbhDriver, ctx: object, kind: RefusalKind
) -> None:
    refusal = driver.bind(ctx)  # type: ignore[arg-type]
    assert isinstance(refusal, Refusal)
    assert refusal.kind is kind
    assert kind.defers == (kind in (RefusalKind.VNIC_TYPE_NOT_HANDLED, RefusalKind.LEFT_TO_QBH))
