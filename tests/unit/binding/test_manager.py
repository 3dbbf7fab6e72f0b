"""The binding manager: order, first success wins, every refusal recorded, loading."""

from __future__ import annotations

import logging

import pytest

from tests.unit.binding.fakes import agent, context
from vfplane.binding.manager import BindingManager, load_drivers
from vfplane.domain.binding import BindingResult, PortContext, Refusal, RefusalKind
from vfplane.domain.networks import PortStatus
from vfplane.errors import ConfigError
from vfplane.settings import NetworkSettings


class FakeDriver:
    def __init__(self, name: str, answer: BindingResult | Refusal | Exception) -> None:
        self.name = name
        self.answer = answer
        self.calls: list[PortContext] = []

    def bind(self, context: PortContext) -> BindingResult | Refusal:
        self.calls.append(context)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_first_success_wins_and_is_recorded_in_bound_drivers() -> None:
    first = FakeDriver("first", Refusal("not mine"))
    second = FakeDriver("second", BindingResult("hw_veb", {"vlan": "7"}, PortStatus.ACTIVE))
    third = FakeDriver("third", BindingResult("bridge", {}))
    outcome = BindingManager([first, second, third]).bind(context())
    assert outcome.bound
    assert outcome.driver == "second"
    assert outcome.vif_type == "hw_veb"
    assert outcome.vif_details == {"vlan": "7", "bound_drivers": {"0": "second"}}
    assert outcome.status == PortStatus.ACTIVE
    assert outcome.reasons == ()
    assert third.calls == []


def test_failure_records_every_reason_and_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    drivers = [FakeDriver("a", Refusal("reason a")), FakeDriver("b", Refusal("reason b"))]
    with caplog.at_level(logging.INFO, logger="vfplane.binding.manager"):
        outcome = BindingManager(drivers).bind(context())
    assert not outcome.bound
    assert outcome.vif_type == "binding_failed"
    assert outcome.vif_details == {}
    assert [r.as_dict() for r in outcome.reasons] == [
        {"driver": "a", "reason": "reason a"},
        {"driver": "b", "reason": "reason b"},
    ]
    assert (
        "Failed to bind port port-1 on host compute-1 for vnic_type direct: a: reason a; "
        "b: reason b" in caplog.text
    )


def test_a_driver_that_raises_is_a_refusal() -> None:
    broken = FakeDriver("broken", RuntimeError("boom"))
    fine = FakeDriver("fine", BindingResult("bridge", {}))
    outcome = BindingManager([broken, fine]).bind(context())
    assert outcome.driver == "fine"
    only_broken = BindingManager([broken]).bind(context())
    assert "the driver failed: RuntimeError('boom')" in only_broken.reasons[0].reason
    assert only_broken.reasons[0].kind is RefusalKind.DRIVER_ERROR


def test_no_drivers_fails_with_a_message() -> None:
    outcome = BindingManager([]).bind(context())
    assert outcome.describe_failure() == "no mechanism driver is configured"


def test_evaluate_asks_every_driver() -> None:
    drivers = [FakeDriver("a", BindingResult("bridge", {})), FakeDriver("b", Refusal("no"))]
    verdicts = BindingManager(drivers).evaluate(context())
    assert [(v.driver, type(v.result).__name__) for v in verdicts] == [
        ("a", "BindingResult"),
        ("b", "Refusal"),
    ]


def test_default_drivers_load_from_entry_points_in_order() -> None:
    manager = BindingManager.from_settings(NetworkSettings(agent_down_time=30))
    assert manager.driver_names == ["sriovnicswitch", "linuxbridge", "qbh"]
    assert manager.agent_down_time == 30
    reversed_order = load_drivers(["qbh", "sriovnicswitch"])
    assert [d.name for d in reversed_order] == ["qbh", "sriovnicswitch"]


def test_unknown_driver_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="unknown driver 'openvswitch'"):
        load_drivers(["sriovnicswitch", "openvswitch"])


def test_default_order_sends_profileid_ports_to_qbh() -> None:
    manager = BindingManager.from_settings(NetworkSettings())
    outcome = manager.bind(context(profile={"profileid": "pp"}, agents=(agent(),)))
    assert outcome.driver == "qbh"
    plain = manager.bind(context(agents=(agent(),)))
    assert plain.driver == "sriovnicswitch"
