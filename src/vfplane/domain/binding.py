"""Port binding vocabulary shared by the service layer and the mechanism drivers.

Drivers see a ``PortContext``: frozen snapshots of the port, its network and the
agents on the binding host. They answer with a ``BindingResult`` or a
``Refusal`` and must not change anything, because their answer may be discarded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from vfplane.domain.networks import PortStatus, VifType

UNBOUND_VIF_TYPES = frozenset({VifType.UNBOUND, VifType.BINDING_FAILED})
NIC_SWITCH_AGENT = "NIC Switch agent"
LINUX_BRIDGE_AGENT = "Linux bridge agent"


def agent_alive(heartbeat_at: datetime, now: datetime, agent_down_time: int) -> bool:
    """Neutron's rule: alive unless the last heartbeat is older than ``agent_down_time``."""
    return (now - heartbeat_at).total_seconds() <= agent_down_time


@dataclass(frozen=True)
class AgentView:
    id: str
    agent_type: str
    host: str
    alive: bool
    heartbeat_age: float
    configurations: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkView:
    id: str
    network_type: str
    physical_network: str | None
    segmentation_id: int | None
    port_profile: str | None = None


@dataclass(frozen=True)
class PortView:
    id: str
    network_id: str
    mac_address: str
    device_owner: str = ""
    fixed_ips: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PortContext:
    """What a driver may look at while it decides whether it can bind a port."""

    port: PortView
    network: NetworkView
    host: str
    vnic_type: str
    profile: Mapping[str, Any]
    agents: tuple[AgentView, ...] = ()
    agent_down_time: int = 75

    def host_agents(self, agent_type: str) -> list[AgentView]:
        return [a for a in self.agents if a.agent_type == agent_type and a.host == self.host]


@dataclass(frozen=True)
class BindingResult:
    vif_type: str
    vif_details: Mapping[str, Any]
    status: PortStatus = PortStatus.DOWN


class RefusalKind(StrEnum):
    """Why a driver refused, in a word (the metrics' label); ``reason`` says it in full."""

    VNIC_TYPE_NOT_HANDLED = "vnic_type_not_handled"  # a deferral: another driver's port
    LEFT_TO_QBH = "left_to_qbh"  # a deferral: an 802.1Qbh port
    AGENT_MISSING = "agent_missing"
    AGENT_DOWN = "agent_down"
    PHYSNET_NOT_MAPPED = "physnet_not_mapped"
    NETWORK_TYPE_NOT_SUPPORTED = "network_type_not_supported"
    NO_PROFILEID = "no_profileid"
    DRIVER_ERROR = "driver_error"
    OTHER = "other"

    @property
    def defers(self) -> bool:
        """The port is simply not this driver's to bind."""
        return self in (RefusalKind.VNIC_TYPE_NOT_HANDLED, RefusalKind.LEFT_TO_QBH)


@dataclass(frozen=True)
class Refusal:
    reason: str
    kind: RefusalKind = RefusalKind.OTHER


class MechanismDriver(Protocol):
    """A mechanism driver; ``bind`` must be free of side effects."""

    @property
    def name(self) -> str: ...

    def bind(self, context: PortContext) -> BindingResult | Refusal: ...


@dataclass(frozen=True)
class FailureReason:
    driver: str
    reason: str
    kind: RefusalKind = RefusalKind.OTHER  # not kept with the port: the reason says it

    def as_dict(self) -> dict[str, str]:
        return {"driver": self.driver, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.driver}: {self.reason}"


@dataclass(frozen=True)
class BindingOutcome:
    """The result of trying every driver: bound by ``driver``, or failed with ``reasons``."""

    vif_type: str
    vif_details: Mapping[str, Any]
    status: PortStatus
    driver: str | None = None
    reasons: tuple[FailureReason, ...] = ()

    @property
    def bound(self) -> bool:
        return self.driver is not None

    def describe_failure(self) -> str:
        return "; ".join(str(r) for r in self.reasons) or "no mechanism driver is configured"


@dataclass(frozen=True)
class DriverVerdict:
    """One driver's answer, for explanations."""

    driver: str
    result: BindingResult | Refusal


class Binder(Protocol):
    """The binding manager as the service layer uses it."""

    @property
    def agent_down_time(self) -> int: ...

    def bind(self, context: PortContext) -> BindingOutcome: ...

    def evaluate(self, context: PortContext) -> Sequence[DriverVerdict]: ...
