"""What a server process counts for Prometheus, and what it reads when Prometheus scrapes.

``Metrics`` holds the process's counters and histogram in a ``CollectorRegistry`` of its
own, never prometheus_client's process-global one: every app (tests make many in one
process) counts for itself. Service code reaches it through objects it is handed already:
the ``HostView`` times each decision and counts those that found no host, the boot flow
(``servers.claim_best``) counts claims and lost races, and the binding manager reports each
port that no driver bound.

``StateCollector`` computes the gauges at scrape time: the VFs of every host from the
``HostView`` (caught up from the stamps first, so a scrape reads only the hosts that
changed, and each host's counts are kept until its picture changes) and each agent's
heartbeat age from one query of the agents table. The gauges are the cloud's, the same
from every server process; the counters are this process's (scrape every process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.orm import Session

from vfplane.db.tables import Agent
from vfplane.domain.binding import BindingOutcome, FailureReason, PortContext
from vfplane.domain.device_states import DeviceStatus
from vfplane.domain.pci import DeviceType
from vfplane.domain.scheduling import HostCandidate, SchedDevice

DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
VF_STATES = ("free", "used", "unavailable")
_STATE_OF = {  # device status → the VF state reported; removed and deleted VFs are left out
    DeviceStatus.AVAILABLE: 0,
    DeviceStatus.CLAIMED: 1,
    DeviceStatus.ALLOCATED: 1,
    DeviceStatus.UNAVAILABLE: 2,
    DeviceStatus.UNCLAIMABLE: 2,
}


def decisive_reason(reasons: Sequence[FailureReason]) -> tuple[str, str]:
    """(driver, reason kind) of a failed binding: the first refusal that is not a deferral
    to another driver, else the first; ("", "no_driver") when no driver was asked. The kind
    is one of a few words (``RefusalKind``), never the reason's text (it names hosts)."""
    decisive = next((r for r in reasons if not r.kind.defers), reasons[0] if reasons else None)
    return (decisive.driver, decisive.kind.value) if decisive else ("", "no_driver")


class Metrics:
    """The counters and the decision-time histogram of one server process."""

    def __init__(self) -> None:
        self.registry = reg = CollectorRegistry()
        self._state: Collector | None = None
        self.decision_seconds = Histogram(
            "vfplane_scheduling_decision_seconds",
            "Time of one scheduling decision of a boot or interface attach (catching up with "
            "the database included)",
            buckets=DECISION_BUCKETS,
            registry=reg,
        )
        self.no_valid_host = Counter(
            "vfplane_no_valid_host",
            "Scheduling decisions that found no host (the boot or attach fails)",
            registry=reg,
        )
        self.claims = Counter(
            "vfplane_claims", "Device claims the scheduler made for a boot or attach", registry=reg
        )
        self.claim_conflicts = Counter(
            "vfplane_claim_conflicts",
            "Claims that lost a race (the next candidate is tried)",
            registry=reg,
        )
        self.binding_failures = Counter(
            "vfplane_binding_failures",
            "Port bindings no mechanism driver made, by the refusal that decided",
            ("vnic_type", "driver", "reason"),
            registry=reg,
        )

    def watch(self, state: Collector) -> None:
        """What a scrape reads of the cloud: the last collector given (dependencies copied
        with ``dataclasses.replace`` hand over a new one)."""
        if self._state is not None:
            self.registry.unregister(self._state)
        self.registry.register(state)
        self._state = state

    def decided(self, fits: bool, seconds: float) -> None:
        self.decision_seconds.observe(seconds)
        if not fits:
            self.no_valid_host.inc()

    def claimed(self, won: bool) -> None:
        (self.claims if won else self.claim_conflicts).inc()

    def binding_failed(self, context: PortContext, outcome: BindingOutcome) -> None:
        driver, reason = decisive_reason(outcome.reasons)
        self.binding_failures.labels(str(context.vnic_type), driver, reason).inc()


VfCounts = dict[str, list[int]]  # physnet → [free, used, unavailable]


def vf_counts(devices: Iterable[SchedDevice]) -> VfCounts:
    counts: VfCounts = {}
    for device in devices:
        state = _STATE_OF.get(device.status)
        if device.dev_type is DeviceType.VF and state is not None:
            counts.setdefault(device.physical_network or "", [0, 0, 0])[state] += 1
    return counts


class StateCollector(Collector):
    """The gauges, computed when Prometheus scrapes (see the module's docstring)."""

    def __init__(
        self, sessions: Callable[[], Session], hosts: Callable[[], list[HostCandidate]],
        clock: Callable[[], datetime],
    ) -> None:  # fmt: skip
        self._sessions, self._hosts, self._clock = sessions, hosts, clock
        self._counted: dict[str, tuple[tuple[SchedDevice, ...], VfCounts]] = {}
        self._lock = threading.Lock()

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        by_host, by_physnet, heartbeats = self._families()
        totals: dict[str, list[int]] = {}
        for host, counts in self._vf_counts():
            for physnet, values in counts.items():
                total = totals.setdefault(physnet, [0, 0, 0])
                for position, state in enumerate(VF_STATES):
                    by_host.add_metric([host, physnet, state], values[position])
                    total[position] += values[position]
        for physnet, values in sorted(totals.items()):
            for state, value in zip(VF_STATES, values, strict=True):
                by_physnet.add_metric([physnet, state], value)
        now = self._clock()
        query = select(Agent.host, Agent.agent_type, Agent.heartbeat_at)
        with self._sessions() as session:
            for host, agent_type, heartbeat_at in session.execute(query.order_by(Agent.host)):
                heartbeats.add_metric([host, agent_type], (now - heartbeat_at).total_seconds())
        return iter((by_host, by_physnet, heartbeats))

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("vfplane_host_vfs", "VFs of a host on a physnet: free, used "
                              "(claimed or allocated) or unavailable (their PF is in use)",
                              labels=("host", "physnet", "state")),
            GaugeMetricFamily("vfplane_physnet_vfs", "VFs on a physnet over every host, by state",
                              labels=("physnet", "state")),
            GaugeMetricFamily("vfplane_agent_heartbeat_age_seconds", "Seconds since the agent's "
                              "last heartbeat", labels=("host", "agent_type")),
        )  # fmt: skip

    def _vf_counts(self) -> list[tuple[str, VfCounts]]:
        """Each host's counts; a host whose picture is the one counted before is not counted
        again (the view replaces a host's device tuple whenever one of its devices changes)."""
        with self._lock:
            counted: dict[str, tuple[tuple[SchedDevice, ...], VfCounts]] = {}
            for host in self._hosts():
                known = self._counted.get(host.name)
                if known is None or known[0] is not host.devices:
                    known = (host.devices, vf_counts(host.devices))
                counted[host.name] = known
            self._counted = counted
            return [(name, counts) for name, (_, counts) in counted.items()]
