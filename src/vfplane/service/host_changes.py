"""Bump a host's desired-state revision whenever a change in a session can affect it.

One session hook sees every flush: bindings on a host, port attributes the agent
applies, QoS rules and policies, a network's QoS policy. The revision moves in the
same transaction; after the commit local waiters wake, and on PostgreSQL a NOTIFY
(delivered at commit) wakes the waiters of other server processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import event, inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from vfplane.db.compute_tables import Server
from vfplane.db.tables import Host, Network, Port, PortBinding, QosPolicy, QosRule
from vfplane.service.notifier import HostNotifier
from vfplane.service.server_actions import wants_running
from vfplane.service.servers import ACTIVE_STATES

CHANNEL = "vfplane_hosts"
PORT_FIELDS = ("mac_address", "admin_state_up", "port_security_enabled", "trusted",
               "qos_policy_id", "propagate_uplink_status")  # fmt: skip
BINDING_FIELDS = ("vnic_type", "profile", "vif_type", "vif_details", "status")
STATE_FIELDS = ("deleted_at", "status", "task_state", "vm_state")  # → listed? running?
PASSED_ON = ("host", "name", "flavor", "image_location", "generation", "reboot_type",
             "numa_nodes", "ports")  # fmt: skip
_TOUCHED = "vfplane.touched_hosts"
_UNKNOWN = object()  # an earlier value history does not know: equal to nothing


def _changed(obj: Any, fields: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in fields)


def _hosts_of_ports(session: Session, port_filter: Any) -> set[str]:
    query = select(PortBinding.host).join(Port, Port.id == PortBinding.port_id).where(port_filter)
    return {h for h in session.scalars(query) if h}


def _hosts_of_policy(session: Session, policy_id: str) -> set[str]:
    direct = _hosts_of_ports(session, Port.qos_policy_id == policy_id)
    networks = select(Network.id).where(Network.qos_policy_id == policy_id)
    return direct | _hosts_of_ports(session, Port.network_id.in_(networks))


def _affected(session: Session, obj: Any, deleted: bool) -> set[str]:
    if isinstance(obj, PortBinding):
        history = inspect(obj).attrs.host.history
        hosts = {obj.host, *(history.deleted or ())} - {"", None}
        moved = bool(history.deleted)
        return hosts if deleted or moved or _changed(obj, BINDING_FIELDS) else set()
    if isinstance(obj, Port) and (deleted or _changed(obj, PORT_FIELDS)):
        return {b.host for b in obj.bindings if b.host}
    if isinstance(obj, QosRule):
        return _hosts_of_policy(session, obj.policy_id)
    if isinstance(obj, QosPolicy):
        return _hosts_of_policy(session, obj.id)
    if isinstance(obj, Network) and not deleted and _changed(obj, ("qos_policy_id",)):
        return _hosts_of_ports(session, Port.network_id == obj.id)
    if isinstance(obj, Server) and (deleted or _desired_view(obj, True) != _desired_view(obj)):
        history = inspect(obj).attrs.host.history
        return {obj.host, *(history.deleted or ())} - {"", None}
    return set()


def _desired_view(server: Server, before: bool = False) -> tuple[Any, ...]:
    """What the agent is told of ``server`` (``before`` this flush): a status change such as
    BUILD → ACTIVE that the agent itself reported changes none of it, and wakes nobody."""
    state = inspect(server)

    def value(name: str) -> Any:
        history = state.attrs[name].history
        if not before or not history.has_changes():
            return getattr(server, name)
        return history.deleted[0] if history.deleted else _UNKNOWN  # changed from nothing

    views = {name: value(name) for name in STATE_FIELDS}
    listed = (views["deleted_at"] is None and views["status"] in ACTIVE_STATES
              and views["task_state"] != "networking")  # fmt: skip
    running = listed and wants_running(SimpleNamespace(**views))  # type: ignore[arg-type]
    return listed, running, *(value(name) for name in PASSED_ON)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    hosts: set[str] = set()
    with session.no_autoflush:
        for obj in list(session.new) + list(session.dirty):
            hosts |= _affected(session, obj, deleted=False)
        for obj in list(session.deleted):
            hosts |= _affected(session, obj, deleted=True)
    if not hosts:
        return
    session.execute(
        update(Host).where(Host.name.in_(sorted(hosts))).values(revision=Host.revision + 1)
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :hosts)"),
                        {"channel": CHANNEL, "hosts": ",".join(sorted(hosts))})  # fmt: skip
    session.info.setdefault(_TOUCHED, set()).update(hosts)


def install(sessions: sessionmaker[Session], notifier: HostNotifier) -> None:
    """Track host-affecting changes of every session ``sessions`` makes (once per factory)."""
    if event.contains(sessions, "before_flush", _before_flush):
        return

    def after_commit(session: Session) -> None:
        touched = session.info.pop(_TOUCHED, None)
        if touched:
            notifier.publish(touched)

    def after_rollback(session: Session) -> None:
        session.info.pop(_TOUCHED, None)

    event.listen(sessions, "before_flush", _before_flush)
    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_rollback", after_rollback)
