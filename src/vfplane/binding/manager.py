"""The binding manager: mechanism drivers in configured order, first success wins.

Drivers are entry points of the group ``vfplane.mechanism_drivers`` and are
loaded by name. The manager only decides; the service layer stores the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from vfplane.domain.binding import (
    BindingOutcome,
    DriverVerdict,
    FailureReason,
    MechanismDriver,
    PortContext,
    Refusal,
    RefusalKind,
)
from vfplane.domain.networks import PortStatus, VifType
from vfplane.errors import ConfigError
from vfplane.settings import NetworkSettings

LOG = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "vfplane.mechanism_drivers"
FailureHook = Callable[[PortContext, BindingOutcome], None]  # told of each port no driver bound


def load_drivers(names: Sequence[str]) -> list[MechanismDriver]:
    """Instantiate the drivers called ``names``, in that order."""
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    drivers: list[MechanismDriver] = []
    for name in names:
        if name not in available:
            known = ", ".join(sorted(available)) or "none installed"
            raise ConfigError(
                f"[network] mechanism_drivers: unknown driver '{name}' (known: {known})"
            )
        factory: Callable[[], MechanismDriver] = available[name].load()
        drivers.append(factory())
    return drivers


class BindingManager:
    def __init__(
        self, drivers: Sequence[MechanismDriver], agent_down_time: int = 75,
        on_failure: FailureHook | None = None,
    ) -> None:  # fmt: skip
        self._drivers = tuple(drivers)
        self._agent_down_time = agent_down_time
        self._on_failure = on_failure

    @classmethod
    def from_settings(
        cls, settings: NetworkSettings, on_failure: FailureHook | None = None
    ) -> BindingManager:
        drivers = load_drivers(settings.mechanism_drivers)
        return cls(drivers, settings.agent_down_time, on_failure)

    @property
    def agent_down_time(self) -> int:
        return self._agent_down_time

    @property
    def driver_names(self) -> list[str]:
        return [d.name for d in self._drivers]

    def _ask(self, driver: MechanismDriver, context: PortContext) -> DriverVerdict:
        try:
            return DriverVerdict(driver.name, driver.bind(context))
        except Exception as exc:
            LOG.exception("mechanism driver %s failed on port %s", driver.name, context.port.id)
            return DriverVerdict(
                driver.name, Refusal(f"the driver failed: {exc!r}", RefusalKind.DRIVER_ERROR)
            )

    def evaluate(self, context: PortContext) -> list[DriverVerdict]:
        """Every driver's answer, whether or not an earlier one binds (for explanations)."""
        return [self._ask(driver, context) for driver in self._drivers]

    def bind(self, context: PortContext) -> BindingOutcome:
        reasons: list[FailureReason] = []
        for driver in self._drivers:
            verdict = self._ask(driver, context)
            result = verdict.result
            if isinstance(result, Refusal):
                reasons.append(FailureReason(driver.name, result.reason, result.kind))
                continue
            details = {**result.vif_details, "bound_drivers": {"0": driver.name}}
            return BindingOutcome(result.vif_type, details, result.status, driver.name)
        outcome = BindingOutcome(VifType.BINDING_FAILED, {}, PortStatus.DOWN, None, tuple(reasons))
        LOG.info(
            "Failed to bind port %s on host %s for vnic_type %s: %s",
            context.port.id,
            context.host,
            context.vnic_type,
            outcome.describe_failure(),
        )
        if self._on_failure is not None:
            self._on_failure(context, outcome)
        return outcome
