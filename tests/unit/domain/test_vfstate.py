"""Desired port state becomes VF configs, and plans converge without leaking VF state."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfplane.domain.pci import PciAddress
from vfplane.domain.vfstate import (
    Action,
    ConfigureVf,
    DesiredPort,
    ForgetVf,
    LinkState,
    ReportDown,
    ReportError,
    ReportUp,
    RestoreVf,
    SavedVf,
    VfConfig,
    VfRef,
    plan,
    target_config,
)

VF_ADDRESSES = [PciAddress(0, 0x3B, 2, function) for function in range(6)]
VFS = {a: VfRef(a, "ens1f0", i) for i, a in enumerate(VF_ADDRESSES)}
UNKNOWN = PciAddress(0, 0x5E, 0, 7)
FRESH = VfConfig(mac="00:00:00:00:00:00")


def port(port_id: str = "p1", slot: PciAddress = VF_ADDRESSES[0], **changes: object) -> DesiredPort:
    base = DesiredPort(
        port_id=port_id,
        pci_slot=slot,
        mac_address="fa:16:3e:00:00:01",
        vlan=100,
        admin_state_up=True,
        port_security_enabled=True,
        trusted=None,
        propagate_uplink_status=False,
        max_kbps=None,
        min_kbps=None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# --- target_config: Neutron's and Nova's rules ---


@pytest.mark.parametrize(
    ("admin_state_up", "propagate", "expected"),
    [
        (True, False, LinkState.ENABLE),
        (True, True, LinkState.AUTO),
        (False, False, LinkState.DISABLE),
        (False, True, LinkState.DISABLE),  # admin down always wins (bug 2078789)
    ],
)
def test_link_state_follows_admin_state_and_uplink_propagation(
    admin_state_up: bool, propagate: bool, expected: LinkState
) -> None:
    desired = port(admin_state_up=admin_state_up, propagate_uplink_status=propagate)
    assert target_config(desired).link_state is expected


@pytest.mark.parametrize("security", [True, False])
def test_spoof_check_follows_port_security(security: bool) -> None:
    assert target_config(port(port_security_enabled=security)).spoofchk is security


@pytest.mark.parametrize(("trusted", "trust"), [(None, False), (False, False), (True, True)])
def test_trust_follows_trusted(trusted: bool | None, trust: bool) -> None:
    assert target_config(port(trusted=trusted)).trust is trust


def test_rates_are_rounded_to_mbps_and_none_is_unlimited() -> None:
    assert target_config(port(max_kbps=2500, min_kbps=999)).max_tx_rate == 2
    assert target_config(port(max_kbps=2500, min_kbps=999)).min_tx_rate == 1
    unlimited = target_config(port(max_kbps=None, min_kbps=None))
    assert (unlimited.min_tx_rate, unlimited.max_tx_rate) == (0, 0)


def test_target_carries_mac_and_vlan_with_no_priority() -> None:
    config = target_config(port(mac_address="FA:16:3E:AB:CD:EF", vlan=42))
    assert (config.mac, config.vlan, config.qos) == ("fa:16:3e:ab:cd:ef", 42, 0)


# --- VfConfig ---


@pytest.mark.parametrize(
    "changes",
    [
        {"mac": "not-a-mac"},
        {"mac": "00:00:00:00:00"},
        {"vlan": 4096},
        {"vlan": -1},
        {"qos": 8},
        {"min_tx_rate": -1},
        {"max_tx_rate": -5},
    ],
)
def test_vf_config_refuses_impossible_values(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        VfConfig(**{"mac": "02:00:00:00:00:01", **changes})  # type: ignore[arg-type]


def test_vf_config_round_trips_through_a_dict() -> None:
    config = VfConfig("02:00:00:00:00:01", 5, 3, False, True, LinkState.DISABLE, 10, 20)
    assert VfConfig.from_dict(config.as_dict()) == config


@pytest.mark.parametrize(
    ("key", "value"),
    [("vlan", "5"), ("spoofchk", 1), ("link_state", "sideways"), ("mac", None), ("trust", None)],
)
def test_vf_config_from_dict_refuses_mistyped_fields(key: str, value: object) -> None:
    data = {**FRESH.as_dict(), key: value}
    with pytest.raises(ValueError):  # noqa: PT011
        VfConfig.from_dict(data)


def test_vf_config_from_dict_refuses_missing_fields() -> None:
    data = FRESH.as_dict()
    del data["max_tx_rate"]
    with pytest.raises(ValueError, match="max_tx_rate"):
        VfConfig.from_dict(data)


# --- plan: the rules ---


def test_unknown_slot_is_an_error_naming_the_slot() -> None:
    actions = plan([port(slot=UNKNOWN)], VFS, {}, {})
    assert actions == [ReportError("p1", f"no VF with PCI address {UNKNOWN} on this host")]


def test_two_ports_on_one_vf_are_both_errors_and_the_vf_is_untouched() -> None:
    desired = [port("a"), port("b", mac_address="fa:16:3e:00:00:02")]
    actions = plan(desired, VFS, {VF_ADDRESSES[0]: FRESH}, {})
    assert [type(a) for a in actions] == [ReportError, ReportError]
    assert [a.port_id for a in actions] == ["a", "b"]
    assert all("a, b" in a.message for a in actions if isinstance(a, ReportError))


def test_vf_already_configured_only_reports_up() -> None:
    desired = port()
    assert plan([desired], VFS, {desired.pci_slot: target_config(desired)}, {}) == [ReportUp("p1")]


def test_first_change_carries_the_observed_original() -> None:
    desired = port()
    actions = plan([desired], VFS, {desired.pci_slot: FRESH}, {})
    assert actions == [
        ConfigureVf(VFS[desired.pci_slot], "p1", target_config(desired), FRESH),
        ReportUp("p1"),
    ]


def test_later_change_does_not_overwrite_the_saved_original() -> None:
    desired = port(vlan=200)
    first = port(vlan=100)
    saved = {desired.pci_slot: SavedVf("p1", FRESH)}
    actions = plan([desired], VFS, {desired.pci_slot: target_config(first)}, saved)
    assert actions == [
        ConfigureVf(VFS[desired.pci_slot], "p1", target_config(desired), None),
        ReportUp("p1"),
    ]


def test_unused_saved_vf_is_restored_and_its_port_reported_down() -> None:
    address = VF_ADDRESSES[2]
    saved = {address: SavedVf("gone", FRESH)}
    actions = plan([], VFS, {address: target_config(port())}, saved)
    assert actions == [RestoreVf(VFS[address], "gone", FRESH), ReportDown("gone")]


def test_restore_happens_even_if_the_state_could_not_be_read() -> None:
    address = VF_ADDRESSES[2]
    actions = plan([], VFS, {}, {address: SavedVf("gone", FRESH)})
    assert actions == [RestoreVf(VFS[address], "gone", FRESH), ReportDown("gone")]


def test_saved_vf_that_no_longer_exists_is_forgotten() -> None:
    saved = {UNKNOWN: SavedVf("gone", FRESH)}
    assert plan([], VFS, {}, saved) == [ForgetVf(UNKNOWN, "gone"), ReportDown("gone")]


def test_vf_handed_to_another_port_keeps_the_first_original() -> None:
    desired = port("new", vlan=300)
    saved = {desired.pci_slot: SavedVf("old", FRESH)}
    observed = {desired.pci_slot: target_config(port("old", vlan=100))}
    actions = plan([desired], VFS, observed, saved)
    assert actions == [
        ConfigureVf(VFS[desired.pci_slot], "new", target_config(desired), FRESH),
        ReportDown("old"),
        ReportUp("new"),
    ]


def test_vf_handed_over_with_the_same_config_still_records_the_new_owner() -> None:
    desired = port("new")
    saved = {desired.pci_slot: SavedVf("old", FRESH)}
    actions = plan([desired], VFS, {desired.pci_slot: target_config(desired)}, saved)
    assert actions[0] == ConfigureVf(VFS[desired.pci_slot], "new", target_config(desired), FRESH)


def test_port_moving_to_another_vf_is_not_reported_down() -> None:
    old_vf, new_vf = VF_ADDRESSES[0], VF_ADDRESSES[1]
    desired = port("p1", slot=new_vf)
    saved = {old_vf: SavedVf("p1", FRESH)}
    observed = {old_vf: target_config(desired), new_vf: FRESH}
    actions = plan([desired], VFS, observed, saved)
    assert actions == [
        RestoreVf(VFS[old_vf], "p1", FRESH),
        ConfigureVf(VFS[new_vf], "p1", target_config(desired), FRESH),
        ReportUp("p1"),
    ]


def test_unreadable_vf_is_not_configured() -> None:
    actions = plan([port()], VFS, {}, {})
    assert [type(a) for a in actions] == [ReportError]
    assert "could not be read" in actions[0].message  # type: ignore[union-attr]


def test_port_asking_for_an_impossible_config_is_an_error() -> None:
    actions = plan([port(mac_address="nonsense")], VFS, {VF_ADDRESSES[0]: FRESH}, {})
    assert [type(a) for a in actions] == [ReportError]
    assert "nonsense" in actions[0].message  # type: ignore[union-attr]


# --- plan: properties ---


def apply(
    actions: Sequence[Action],
    observed: Mapping[PciAddress, VfConfig],
    saved: Mapping[PciAddress, SavedVf],
) -> tuple[dict[PciAddress, VfConfig], dict[PciAddress, SavedVf]]:
    """What a faultless agent does with a plan."""
    new_observed, new_saved = dict(observed), dict(saved)
    for action in actions:
        if isinstance(action, ConfigureVf):
            if action.original is not None:
                new_saved[action.vf.address] = SavedVf(action.port_id, action.original)
            new_observed[action.vf.address] = action.config
        elif isinstance(action, RestoreVf):
            new_observed[action.vf.address] = action.original
            new_saved.pop(action.vf.address, None)
        elif isinstance(action, ForgetVf):
            new_saved.pop(action.address, None)
    return new_observed, new_saved


MACS = st.sampled_from(["00:00:00:00:00:00", "fa:16:3e:00:00:01", "fa:16:3e:00:00:02"])
PORT_IDS = [f"p{i}" for i in range(8)]
RATES = st.one_of(st.none(), st.sampled_from([0, 500, 1000, 2500]))

configs = st.builds(
    VfConfig,
    mac=MACS,
    vlan=st.sampled_from([0, 100, 200]),
    qos=st.sampled_from([0, 3]),
    spoofchk=st.booleans(),
    trust=st.booleans(),
    link_state=st.sampled_from(list(LinkState)),
    min_tx_rate=st.sampled_from([0, 1, 2]),
    max_tx_rate=st.sampled_from([0, 1, 2]),
)
observed_states = st.fixed_dictionaries(dict.fromkeys(VF_ADDRESSES, configs))
saved_states = st.dictionaries(
    st.sampled_from(VF_ADDRESSES),
    st.builds(SavedVf, port_id=st.sampled_from(PORT_IDS), original=configs),
)


def ports_on(slots: Sequence[PciAddress], ids: Sequence[str]) -> st.SearchStrategy[DesiredPort]:
    return st.builds(
        DesiredPort,
        port_id=st.sampled_from(ids),
        pci_slot=st.sampled_from(slots),
        mac_address=MACS,
        vlan=st.sampled_from([0, 100, 200]),
        admin_state_up=st.booleans(),
        port_security_enabled=st.booleans(),
        trusted=st.one_of(st.none(), st.booleans()),
        propagate_uplink_status=st.booleans(),
        max_kbps=RATES,
        min_kbps=RATES,
    )


valid_desired = st.lists(
    ports_on(VF_ADDRESSES, PORT_IDS),
    max_size=len(VF_ADDRESSES),
    unique_by=(lambda p: p.port_id, lambda p: p.pci_slot),
)
any_desired = st.lists(ports_on([*VF_ADDRESSES, UNKNOWN], PORT_IDS[:3]), max_size=5)


@settings(deadline=None)
@given(desired=valid_desired, observed=observed_states, saved=saved_states)
def test_one_plan_converges_and_then_only_reports_up(
    desired: list[DesiredPort],
    observed: dict[PciAddress, VfConfig],
    saved: dict[PciAddress, SavedVf],
) -> None:
    after, after_saved = apply(plan(desired, VFS, observed, saved), observed, saved)
    for p in desired:
        assert after[p.pci_slot] == target_config(p)
        assert after_saved.get(p.pci_slot, SavedVf(p.port_id, FRESH)).port_id == p.port_id
    replan = plan(desired, VFS, after, after_saved)
    assert replan == [ReportUp(p.port_id) for p in desired]
    assert apply(replan, after, after_saved) == (after, after_saved)


@settings(deadline=None)
@given(desired=any_desired, observed=observed_states, saved=saved_states)
def test_any_request_settles_after_one_plan(
    desired: list[DesiredPort],
    observed: dict[PciAddress, VfConfig],
    saved: dict[PciAddress, SavedVf],
) -> None:
    after, after_saved = apply(plan(desired, VFS, observed, saved), observed, saved)
    replan = plan(desired, VFS, after, after_saved)
    assert all(isinstance(a, ReportUp | ReportError) for a in replan)


@settings(deadline=None)
@given(initial=observed_states, steps=st.lists(valid_desired, min_size=1, max_size=5))
def test_every_vf_gets_its_original_back_when_all_ports_are_gone(
    initial: dict[PciAddress, VfConfig], steps: list[list[DesiredPort]]
) -> None:
    observed: dict[PciAddress, VfConfig] = dict(initial)
    saved: dict[PciAddress, SavedVf] = {}
    for desired in [*steps, []]:
        observed, saved = apply(plan(desired, VFS, observed, saved), observed, saved)
    assert observed == initial
    assert saved == {}
