"""QoS use cases: policies, their bandwidth rules, and the rates a port ends up with."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vfplane.db.tables import Network, Port, QosPolicy, QosRule
from vfplane.domain.qos import Direction, RuleType
from vfplane.errors import Conflict, Forbidden, InvalidInput, NotFound
from vfplane.service.context import RequestContext

POLICY_UPDATABLE = frozenset({"name", "description", "shared", "is_default"})
RULE_FIELDS: Mapping[RuleType, tuple[str, ...]] = {
    RuleType.BANDWIDTH_LIMIT: ("max_kbps", "max_burst_kbps", "direction"),
    RuleType.MINIMUM_BANDWIDTH: ("min_kbps", "direction"),
}
RULE_DEFAULTS: Mapping[str, Any] = {"max_burst_kbps": 0, "direction": Direction.EGRESS.value}


@dataclass(frozen=True)
class PolicyRequest:
    name: str = ""
    description: str = ""
    shared: bool = False
    is_default: bool = False
    project_id: str | None = None


# --- policies ---------------------------------------------------------------


def visible_policies(context: RequestContext) -> Select[QosPolicy]:
    query = select(QosPolicy)
    if not context.is_admin_or_service:
        query = query.where((QosPolicy.project_id == context.project_id) | QosPolicy.shared)
    return query


def get_policy(session: Session, context: RequestContext, policy_id: str) -> QosPolicy:
    policy = session.scalar(visible_policies(context).where(QosPolicy.id == policy_id))
    if policy is None:
        raise NotFound(f"QoS policy {policy_id} could not be found.", kind="QosPolicyNotFound")
    return policy


def list_policies(session: Session, context: RequestContext) -> list[QosPolicy]:
    query = visible_policies(context).order_by(QosPolicy.created_at, QosPolicy.id)
    return list(session.scalars(query))


def _require_owner(context: RequestContext, policy: QosPolicy, action: str) -> None:
    """Writes need the member role and the policy's project, or admin."""
    context.require_write(action)
    if not (context.is_admin or policy.project_id == context.project_id):
        raise Forbidden(
            f"QoS policy {policy.id} belongs to another project", kind="PolicyNotAuthorized"
        )


def _require_admin_for_guarantees(context: RequestContext, rule_type: RuleType) -> None:
    """A limit only restrains its own ports; a guarantee takes capacity from every other port
    on the PF, so only admins may set one."""
    if rule_type is RuleType.MINIMUM_BANDWIDTH and not context.is_admin:
        raise Forbidden(
            "Only admins may set minimum bandwidth rules: a guarantee takes capacity from "
            "the other ports on the same PF",
            kind="PolicyNotAuthorized",
        )


def _check_single_default(session: Session, project_id: str, policy_id: str) -> None:
    query = select(QosPolicy.id).where(
        QosPolicy.project_id == project_id, QosPolicy.is_default, QosPolicy.id != policy_id
    )
    if session.scalar(query) is not None:
        raise Conflict(
            f"A default QoS policy exists for project {project_id}.",
            kind="QoSPolicyDefaultAlreadyExists",
        )


def create_policy(
    session: Session, context: RequestContext, request: PolicyRequest, now: datetime
) -> QosPolicy:
    context.require_write("Creating a QoS policy")
    if request.shared and not context.is_admin:
        raise Forbidden("Only admins may create shared QoS policies", kind="PolicyNotAuthorized")
    if request.project_id not in (None, context.project_id) and not context.is_admin:
        raise Forbidden(
            "Only admins may create QoS policies for another project", kind="PolicyNotAuthorized"
        )
    policy = QosPolicy(
        id=str(uuid.uuid4()),
        project_id=request.project_id or context.project_id,
        name=request.name,
        description=request.description,
        shared=request.shared,
        is_default=request.is_default,
        created_at=now,
        updated_at=now,
        revision_number=1,
        rules=[],
    )
    if policy.is_default:
        _check_single_default(session, policy.project_id, policy.id)
    session.add(policy)
    session.commit()
    return policy


def update_policy(
    session: Session,
    context: RequestContext,
    policy_id: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> QosPolicy:
    policy = get_policy(session, context, policy_id)
    _require_owner(context, policy, "Updating a QoS policy")
    refused = sorted(set(changes) - POLICY_UPDATABLE)
    if refused:
        raise InvalidInput(f"Cannot update read-only attribute(s): {', '.join(refused)}")
    if "shared" in changes and changes["shared"] != policy.shared:
        context.require_admin("Changing whether a QoS policy is shared")
        if not changes["shared"]:
            _check_unused(session, policy_id, other_than=policy.project_id)
    if changes.get("is_default") and not policy.is_default:
        _check_single_default(session, policy.project_id, policy.id)
    for name, value in changes.items():
        setattr(policy, name, value)
    _bump(policy, now)
    session.commit()
    return policy


def _first_user(session: Session, policy_id: str, other_than: str | None) -> str | None:
    """``"network <id>"`` or ``"port <id>"`` using the policy (outside ``other_than``)."""
    for kind, table in (("network", Network), ("port", Port)):
        query = select(table.id).where(table.qos_policy_id == policy_id)
        if other_than is not None:
            query = query.where(table.project_id != other_than)
        found = session.scalar(query.order_by(table.id).limit(1))
        if found is not None:
            return f"{kind} {found}"
    return None


def _check_unused(session: Session, policy_id: str, other_than: str | None = None) -> None:
    user = _first_user(session, policy_id, other_than)
    if user is not None:
        raise Conflict(f"QoS Policy {policy_id} is used by {user}.", kind="QosPolicyInUse")


def delete_policy(session: Session, context: RequestContext, policy_id: str) -> None:
    policy = get_policy(session, context, policy_id)
    _require_owner(context, policy, "Deleting a QoS policy")
    _check_unused(session, policy_id)
    session.delete(policy)
    try:
        session.commit()
    except IntegrityError:  # attached meanwhile; the foreign keys RESTRICT
        session.rollback()
        _check_unused(session, policy_id)
        raise


def _bump(policy: QosPolicy, now: datetime) -> None:
    policy.updated_at = now
    policy.revision_number += 1


# --- rules ------------------------------------------------------------------


def list_rules(
    session: Session, context: RequestContext, policy_id: str, rule_type: RuleType
) -> list[QosRule]:
    policy = get_policy(session, context, policy_id)
    return [r for r in policy.rules if r.rule_type == rule_type]


def _find_rule(policy: QosPolicy, rule_type: RuleType, rule_id: str) -> QosRule:
    for rule in policy.rules:
        if rule.id == rule_id and rule.rule_type == rule_type:
            return rule
    raise NotFound(
        f"QoS rule {rule_id} for policy {policy.id} could not be found.", kind="QosRuleNotFound"
    )


def get_rule(
    session: Session, context: RequestContext, policy_id: str, rule_type: RuleType, rule_id: str
) -> QosRule:
    return _find_rule(get_policy(session, context, policy_id), rule_type, rule_id)


def _check_rates(
    policy: QosPolicy, rule_type: RuleType, values: Mapping[str, Any], other: QosRule
) -> None:
    """A guaranteed rate above the limit of the same direction cannot be honoured."""
    if rule_type == RuleType.MINIMUM_BANDWIDTH and other.rule_type == RuleType.BANDWIDTH_LIMIT:
        minimum, maximum = int(values["min_kbps"]), other.max_kbps or 0
        new_value, existing_value = minimum, maximum
    elif rule_type == RuleType.BANDWIDTH_LIMIT and other.rule_type == RuleType.MINIMUM_BANDWIDTH:
        minimum, maximum = other.min_kbps or 0, int(values["max_kbps"])
        new_value, existing_value = maximum, minimum
    else:
        return
    if maximum and minimum > maximum:  # a limit of 0 is "unlimited"
        raise Conflict(
            f"Unable to add the rule with value {new_value} to the policy {policy.id} as the "
            f"existing rule of type {other.rule_type} restricts the bandwidth to "
            f"{existing_value}.",
            kind="QoSRuleParameterConflict",
        )


def _check_conflicts(
    policy: QosPolicy, rule_type: RuleType, values: Mapping[str, Any], rule_id: str
) -> None:
    for other in policy.rules:
        if other.id == rule_id or other.direction != values["direction"]:
            continue
        if other.rule_type == rule_type:
            raise Conflict(
                f"Rule {rule_type} conflicts with rule {other.id} which already exists in "
                f"QoS Policy {policy.id}.",
                kind="QoSRulesConflict",
            )
        _check_rates(policy, rule_type, values, other)


def _rule_values(rule_type: RuleType, given: Mapping[str, Any]) -> dict[str, Any]:
    fields = RULE_FIELDS[rule_type]
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise InvalidInput(
            f"Unrecognized attribute(s) for a {rule_type} rule: {', '.join(unknown)}"
        )
    values = {name: given.get(name, RULE_DEFAULTS.get(name)) for name in fields}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise InvalidInput(f"Invalid input for {missing[0]}: a {rule_type} rule needs it")
    values["direction"] = str(values["direction"])
    return values


def _commit_rule(session: Session, policy: QosPolicy, rule_type: RuleType) -> None:
    try:
        session.commit()
    except IntegrityError:  # the same kind was added meanwhile
        session.rollback()
        raise Conflict(
            f"Rule {rule_type} conflicts with a rule which already exists in "
            f"QoS Policy {policy.id}.",
            kind="QoSRulesConflict",
        ) from None


def create_rule(
    session: Session,
    context: RequestContext,
    policy_id: str,
    rule_type: RuleType,
    given: Mapping[str, Any],
    now: datetime,
) -> QosRule:
    policy = get_policy(session, context, policy_id)
    _require_owner(context, policy, "Adding a QoS rule")
    _require_admin_for_guarantees(context, rule_type)
    rule_id = str(uuid.uuid4())
    values = _rule_values(rule_type, given)
    _check_conflicts(policy, rule_type, values, rule_id)
    rule = QosRule(id=rule_id, policy_id=policy.id, rule_type=str(rule_type), **values)
    policy.rules.append(rule)
    _bump(policy, now)
    _commit_rule(session, policy, rule_type)
    return rule


def update_rule(
    session: Session,
    context: RequestContext,
    policy_id: str,
    rule_type: RuleType,
    rule_id: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> QosRule:
    policy = get_policy(session, context, policy_id)
    rule = _find_rule(policy, rule_type, rule_id)
    _require_owner(context, policy, "Updating a QoS rule")
    _require_admin_for_guarantees(context, rule_type)
    current = {name: getattr(rule, name) for name in RULE_FIELDS[rule_type]}
    values = _rule_values(rule_type, {**current, **changes})
    _check_conflicts(policy, rule_type, values, rule.id)
    for name, value in values.items():
        setattr(rule, name, value)
    _bump(policy, now)
    _commit_rule(session, policy, rule_type)
    return rule


def delete_rule(
    session: Session,
    context: RequestContext,
    policy_id: str,
    rule_type: RuleType,
    rule_id: str,
    now: datetime,
) -> None:
    policy = get_policy(session, context, policy_id)
    rule = _find_rule(policy, rule_type, rule_id)
    _require_owner(context, policy, "Deleting a QoS rule")
    policy.rules.remove(rule)
    _bump(policy, now)
    session.commit()


# --- what the host agent applies --------------------------------------------


def effective_rates(session: Session, port: Port) -> tuple[int | None, int | None]:
    """``(max_kbps, min_kbps)`` of the port's policy, else its network's; egress only.

    ``None`` means the policy has no such rule (or there is no policy): the agent
    then clears that rate.
    """
    return effective_rates_of(session, [port])[port.id]


def effective_rates_of(
    session: Session, ports: Sequence[Port]
) -> dict[str, tuple[int | None, int | None]]:
    """``effective_rates`` of many ports (port id → rates) in at most two queries."""
    networks = {p.network_id for p in ports if p.qos_policy_id is None}
    query = select(Network.id, Network.qos_policy_id).where(Network.id.in_(networks))
    network_policy: dict[str, str | None] = (
        {row.id: row.qos_policy_id for row in session.execute(query)} if networks else {}
    )
    policy_of = {p.id: p.qos_policy_id or network_policy.get(p.network_id) for p in ports}
    policies = {policy for policy in policy_of.values() if policy is not None}
    rates: dict[str, tuple[int | None, int | None]] = dict.fromkeys(policies, (None, None))
    rules = select(QosRule).where(QosRule.policy_id.in_(policies),
                                  QosRule.direction == Direction.EGRESS.value)  # fmt: skip
    for rule in session.scalars(rules) if policies else ():
        max_kbps, min_kbps = rates[rule.policy_id]
        if rule.rule_type == RuleType.BANDWIDTH_LIMIT:
            max_kbps = rule.max_kbps
        elif rule.rule_type == RuleType.MINIMUM_BANDWIDTH:
            min_kbps = rule.min_kbps
        rates[rule.policy_id] = (max_kbps, min_kbps)
    return {
        port_id: rates[p] if p is not None else (None, None) for port_id, p in policy_of.items()
    }
