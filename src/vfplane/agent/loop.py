"""The host agent: register, heartbeat, watch the desired state, reconcile, report."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vfplane.agent.domains import DomainReconciler, DomainReport
from vfplane.agent.inventory import HostInventory
from vfplane.agent.reconcile import Outcome, Reconciler
from vfplane.client import ApiClient
from vfplane.domain.networks import PortStatus
from vfplane.domain.vfstate import originals_digest
from vfplane.errors import VfplaneError
from vfplane.logs import log_context

LOG = logging.getLogger(__name__)
AGENT_TYPE = "NIC Switch agent"
BRIDGE_AGENT_TYPE = "Linux bridge agent"  # reported too when interface_mappings are set
BINARY = "vfplane-agent"
MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class AgentTiming:
    report_interval: float = 30.0
    poll_timeout: float = 30.0
    rescan_interval: float = 10.0


class Agent:
    """One host's agent. ``run`` returns when ``stop`` is set."""

    def __init__(
        self,
        host: str,
        client: ApiClient,
        reconciler: Reconciler,
        scan: Callable[[], HostInventory],
        timing: AgentTiming = AgentTiming(),
        domains: DomainReconciler | None = None,
        interface_mappings: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.host = host
        self._interface_mappings = {k: list(v) for k, v in (interface_mappings or {}).items()}
        self._domains = domains
        self._domains_reported: dict[str, tuple[str, str, str, str]] = {}
        self._bridged_reported: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._client = client
        self._reconciler = reconciler
        self._scan = scan
        self._timing = timing
        self._inventory: HostInventory | None = None
        self._registered: str | None = None
        self._started = False

    def close(self) -> None:
        self._client.close()

    # --- server calls ---

    def heartbeat(self) -> None:
        inventory = self._inventory
        mappings = inventory.report["configurations"]["device_mappings"] if inventory else {}
        body = {"host": self.host, "agent_type": AGENT_TYPE, "binary": BINARY,
                "configurations": {"device_mappings": mappings,
                                   "devices": len(inventory.devices) if inventory else 0},
                "start_flag": not self._started}  # fmt: skip
        self._client.call("POST", "/v1/agents/heartbeat", json=body)
        if self._interface_mappings:
            uplinks = {"interface_mappings": self._interface_mappings}
            bridge = {**body, "agent_type": BRIDGE_AGENT_TYPE, "configurations": uplinks}
            self._client.call("POST", "/v1/agents/heartbeat", json=bridge)
        self._started = True

    def _rescan(self) -> bool:
        """Scan the host; register it when what it reports changed. True when it did."""
        inventory = self._scan()
        for problem in inventory.problems:
            LOG.info("host %s: %s", self.host, problem)
        self._inventory = inventory
        if inventory.fingerprint == self._registered:
            return False
        self._client.call("PUT", f"/v1/hosts/{self.host}", json=inventory.report)
        self._registered = inventory.fingerprint
        LOG.info("host %s registered with %d devices", self.host, len(inventory.devices))
        return True

    def _desired(self, since: int) -> dict[str, Any]:
        timeout = self._timing.poll_timeout
        params = {"since": since, "timeout": timeout}
        state: dict[str, Any] = self._client.call(
            "GET", f"/v1/hosts/{self.host}/desired", params=params, timeout=timeout + 15
        )
        return state

    def _report(self, outcome: Outcome, ports: Sequence[Mapping[str, Any]]) -> None:
        """Tell the server what it does not show yet: ports up that are not ACTIVE in the
        desired state (which carries each port's status), ports down, and errors.

        A pass over N ports thus reports only what changed, not N ports each time, in one
        call: each port with the request id that asked for its change (``request_ids``), so
        the server's line about it names that call.
        """
        status = {str(port["port_id"]): port.get("status") for port in ports}
        up = [port_id for port_id in outcome.up if status.get(port_id) != PortStatus.ACTIVE]
        if not (up or outcome.down or outcome.errors):
            return
        errors = [{"port_id": p, "message": m} for p, m in outcome.errors.items()]
        reported = {*up, *outcome.down, *outcome.errors}
        ids = {p: rid for p, rid in outcome.request_ids.items() if p in reported}
        body: dict[str, Any] = {"up": up, "down": outcome.down, "errors": errors}
        if ids:
            body["request_ids"] = ids
        self._client.call("POST", f"/v1/hosts/{self.host}/ports/status", json=body,
                          request_id=_only(ids.values()))  # fmt: skip

    def _report_originals(self, state: Mapping[str, Any]) -> None:
        """Tell the server the saved originals (every VF's, by address) when the digest of
        those it keeps (in the desired state) differs from theirs: with the port status
        report, as ``originals``. A server that keeps none sends no digest and is not told."""
        kept = state.get("originals_digest")
        originals = self._reconciler.originals
        if kept is None or kept == originals_digest(originals):
            return
        body = {"originals": originals}
        self._client.call("POST", f"/v1/hosts/{self.host}/ports/status", json=body)

    # --- the loops ---

    def _report_domains(self, reports: list[DomainReport], force: bool) -> None:
        """Report the domains whose state, message or XML changed since their last report
        (every one when ``force``): a pass over N servers sends what changed, not N reports."""
        keys = {r.server_id: r.key for r in reports}  # the XML's digest: a reboot changes it
        fresh = [r for r in reports if force or self._domains_reported.get(r.server_id) != r.key]
        if fresh:  # one call; each server's report names the request that asked
            body = {"servers": [r.as_dict() for r in fresh]}
            self._client.call("POST", f"/v1/hosts/{self.host}/servers/status", json=body,
                              request_id=_only(r.request_id for r in fresh))  # fmt: skip
        self._domains_reported = keys

    def reconcile_once(self, since: int) -> int:
        """Watch for a change after ``since``, converge, report; the revision to watch next."""
        with log_context(host=self.host):
            return self._reconcile_once(since)

    def _reconcile_once(self, since: int) -> int:
        resync = since < 0
        state = self._desired(since)
        assert self._inventory is not None
        servers = state.get("servers", [])
        released = state.get("released") or {}
        if self._domains is not None:
            self._domains.remove_gone(servers, released.get("servers"))
        outcome = self._reconciler.run(state["ports"], self._inventory.devices,
                                       released.get("ports"))  # fmt: skip
        self._report(outcome, state["ports"])
        self._report_originals(state)
        clean = outcome.clean
        if self._domains is not None:
            reports = self._domains.converge(servers, self._inventory.devices)
            self._report_domains(reports, force=resync)
            self._report_bridged(servers, reports, force=resync)
            clean = clean and all(r.state != "error" for r in reports)
        return int(state["revision"]) if clean else -1

    def _report_bridged(
        self, servers: list[dict[str, Any]], reports: list[DomainReport], force: bool
    ) -> None:
        """Bridged (normal) ports are up while their domain runs and down while it is stopped,
        as a Linux bridge agent follows the tap device; no VF is involved."""
        states = {r.server_id: r.state for r in reports}
        bridged = [(states.get(s["id"]), i["port_id"]) for s in servers
                   for i in s.get("interfaces", []) if i.get("vif_type") == "bridge"]  # fmt: skip
        up = sorted(port for state, port in bridged if state == "running")
        down = sorted(port for state, port in bridged if state == "shutoff")
        key = (tuple(up), tuple(down))
        if not (up or down) or (key == self._bridged_reported and not force):
            return
        body = {"up": up, "down": down}
        self._client.call("POST", f"/v1/hosts/{self.host}/ports/status", json=body)
        self._bridged_reported = key

    def _heartbeats(self, stop: threading.Event) -> None:
        with log_context(host=self.host):
            while not stop.wait(self._timing.report_interval):
                try:
                    self.heartbeat()
                except VfplaneError as exc:
                    LOG.warning("heartbeat of %s failed: %s", self.host, exc)

    def run(self, stop: threading.Event) -> None:
        """Every line the agent logs meanwhile names its host."""
        with log_context(host=self.host):
            self._run(stop)

    def _run(self, stop: threading.Event) -> None:
        beats = threading.Thread(target=self._heartbeats, args=(stop,), daemon=True,
                                 name=f"heartbeat-{self.host}")  # fmt: skip
        since, backoff, next_scan, beating = -1, 1.0, 0.0, False
        while not stop.is_set():
            try:
                if time.monotonic() >= next_scan:
                    if self._rescan():
                        since = -1
                    next_scan = time.monotonic() + self._timing.rescan_interval
                if not beating:
                    self.heartbeat()
                    beats.start()
                    beating = True
                since = self.reconcile_once(since)
                backoff = 1.0
                if since < 0:
                    stop.wait(1.0)  # errors: resync everything shortly
            except VfplaneError as exc:
                LOG.warning("agent of %s: %s; full resync in %.0f s", self.host, exc, backoff)
                since = -1
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)


def _only(request_ids: Iterable[str | None]) -> str | None:
    """The request id of a report: the one all its items share, else none (each item names
    its own)."""
    found = set(request_ids)
    return found.pop() if len(found) == 1 else None
