"""Stop, start and reboot: Nova's state checks, then the agent converges the domain.

An action sets a task state and changes what the host's agent is asked to run
(``running``, ``generation``); it ends when the agent's report shows the result,
and the instance action records when and how.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vfplane.db.compute_tables import InstanceAction, Server
from vfplane.errors import Conflict, InvalidInput
from vfplane.service.context import RequestContext

POWERING_OFF, POWERING_ON = "powering-off", "powering-on"
REBOOTING, REBOOTING_HARD = "rebooting", "rebooting_hard"
PENDING_ACTIONS = {POWERING_OFF: "stop", POWERING_ON: "start", REBOOTING: "reboot",
                   REBOOTING_HARD: "reboot"}  # fmt: skip
REBOOT_TYPES = ("SOFT", "HARD")


_ALLOWED_VM_STATES = {
    "stop": ("active", "error"),
    "start": ("stopped",),
    "reboot SOFT": ("active",),
    "reboot HARD": ("active", "stopped", "error"),
}


def record_action(session: Session, context: RequestContext, server_id: str, action: str,
                  now: datetime, message: str | None = None, *,
                  pending: bool = False) -> None:  # fmt: skip
    """One instance action; a pending one is finished by :func:`finish_action`."""
    session.add(InstanceAction(
        id=str(uuid.uuid4()), server_id=server_id, action=action,
        request_id=context.request_id, user_id=context.user_id, project_id=context.project_id,
        start_time=now, finish_time=None if pending else now,
        result=None if pending else ("Error" if message else "Success"), message=message,
    ))  # fmt: skip


def finish_action(session: Session, server_id: str, action: str, now: datetime,
                  message: str | None = None, *, error: bool = False) -> None:  # fmt: skip
    """End the oldest unfinished ``action`` of the server, if there is one."""
    query = select(InstanceAction).where(
        InstanceAction.server_id == server_id, InstanceAction.action == action,
        InstanceAction.finish_time.is_(None),
    ).order_by(InstanceAction.start_time)  # fmt: skip
    row = session.scalars(query).first()
    if row is not None:
        row.finish_time, row.result = now, "Error" if error else "Success"
        row.message = message or row.message


def require_state(server: Server, action: str, vm_states: tuple[str, ...]) -> None:
    """Nova's InstanceInvalidState: no task under way, and one of ``vm_states`` on a host."""
    if server.task_state is not None:
        raise Conflict(f"Cannot '{action}' instance {server.id} while it is in task_state "
                       f"{server.task_state}", kind="InstanceInvalidState")  # fmt: skip
    if server.vm_state not in vm_states or server.host is None:
        raise Conflict(f"Cannot '{action}' instance {server.id} while it is in vm_state "
                       f"{server.vm_state}", kind="InstanceInvalidState")  # fmt: skip


def _check(server: Server, action: str, key: str | None = None) -> None:
    require_state(server, action, _ALLOWED_VM_STATES[key or action])


def fault(message: str, now: datetime, details: str = "") -> dict[str, Any]:
    """A server's ``fault`` as Nova shows it."""
    return {"code": 500, "message": message[:255], "details": details,
            "created": now.strftime("%Y-%m-%dT%H:%M:%SZ")}  # fmt: skip


def stop(session: Session, context: RequestContext, server: Server, now: datetime) -> None:
    context.require_write("Stopping a server")
    _check(server, "stop")
    server.task_state, server.updated_at = POWERING_OFF, now
    record_action(session, context, server.id, "stop", now, pending=True)
    session.commit()


def start(session: Session, context: RequestContext, server: Server, now: datetime) -> None:
    context.require_write("Starting a server")
    _check(server, "start")
    server.task_state, server.updated_at = POWERING_ON, now
    record_action(session, context, server.id, "start", now, pending=True)
    session.commit()


def reboot(session: Session, context: RequestContext, server: Server, reboot_type: str,
           now: datetime) -> None:  # fmt: skip
    """SOFT: a guest shutdown and start; HARD: power cycle (also starts a stopped server)."""
    context.require_write("Rebooting a server")
    kind = reboot_type.upper()
    if kind not in REBOOT_TYPES:
        raise InvalidInput(f"Invalid input for reboot.type: '{reboot_type}' is not SOFT or HARD")
    _check(server, "reboot", f"reboot {kind}")
    server.task_state = REBOOTING if kind == "SOFT" else REBOOTING_HARD
    server.status = "REBOOT" if kind == "SOFT" else "HARD_REBOOT"
    server.generation, server.reboot_type, server.updated_at = server.generation + 1, kind, now
    record_action(session, context, server.id, "reboot", now, pending=True)
    session.commit()


def wants_running(server: Server) -> bool:
    """Whether the agent should keep the domain running."""
    if server.task_state in (POWERING_ON, REBOOTING, REBOOTING_HARD):
        return True
    return server.vm_state != "stopped" and server.task_state != POWERING_OFF


def _become_active(server: Server, now: datetime) -> None:
    server.status, server.vm_state, server.task_state = "ACTIVE", "active", None
    server.fault, server.updated_at = None, now


def on_running(session: Session, server: Server, generation: int, now: datetime) -> None:
    """The agent says the domain runs with boot ``generation``: finish a start or reboot."""
    if server.task_state == POWERING_ON:
        _become_active(server, now)
        finish_action(session, server.id, "start", now)
    elif server.task_state in (REBOOTING, REBOOTING_HARD) and generation >= server.generation:
        _become_active(server, now)
        finish_action(session, server.id, "reboot", now, f"{server.reboot_type} reboot done")


def on_shutoff(session: Session, server: Server, now: datetime) -> None:
    """The agent says the domain is stopped: finish a stop."""
    if server.task_state == POWERING_OFF:
        server.status, server.vm_state, server.task_state = "SHUTOFF", "stopped", None
        server.updated_at = now
        finish_action(session, server.id, "stop", now)


def on_error(session: Session, server: Server, message: str, now: datetime) -> None:
    """A running server's domain failed an action: ERROR, devices kept until delete (Nova)."""
    for action in ("stop", "start", "reboot", "attach_interface", "detach_interface"):
        finish_action(session, server.id, action, now, message, error=True)
    server.status, server.vm_state, server.task_state = "ERROR", "error", None
    server.fault = fault("The domain failed", now, message)
    server.updated_at = now


def expire_actions(session: Session, now: datetime, timeout: float) -> list[str]:
    """Stops, starts and reboots the host's agent did not carry out within ``timeout`` seconds
    end in Error; the server is left as it was (a reboot is not owed any more)."""
    query = select(Server).where(Server.task_state.in_(sorted(PENDING_ACTIONS)),
                                 Server.deleted_at.is_(None))  # fmt: skip
    expired = []
    for server in list(session.scalars(query)):
        if (now - server.updated_at).total_seconds() <= timeout:
            continue
        action = PENDING_ACTIONS[str(server.task_state)]
        if action == "reboot":
            server.generation -= 1
        message = (f"the agent of host {server.host} did not {action} the domain within "
                   f"{timeout:.0f} s; the server was left as it was")  # fmt: skip
        finish_action(session, server.id, action, now, message, error=True)
        server.task_state, server.updated_at = None, now
        server.status = "SHUTOFF" if server.vm_state == "stopped" else "ACTIVE"
        expired.append(server.id)
    session.commit()
    return expired
