"""``/network/v2.0/qos``: policies, bandwidth rules and rule types over ``service.qos``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vfplane.api.deps import Caller, Db, Deps
from vfplane.api.network.common import changed, collection, iso, single
from vfplane.db.tables import QosPolicy, QosRule
from vfplane.domain.qos import MAX_KBPS, Direction, RuleType
from vfplane.errors import NotFound
from vfplane.service import qos as service

router = APIRouter(tags=["network: qos"])

POLICIES = "/qos/policies"
BW_LIMIT = "/qos/policies/{policy_id}/bandwidth_limit_rules"
MIN_BW = "/qos/policies/{policy_id}/minimum_bandwidth_rules"

# Update bodies declare non-optional types with placeholder defaults: only the
# attributes a PUT carries are applied (``changed``), and an explicit null is a 400.


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyCreate(_Body):
    name: str = Field("", max_length=255)
    description: str = Field("", max_length=255)
    shared: bool = False
    is_default: bool = False
    project_id: str | None = Field(None, max_length=255)
    tenant_id: str | None = Field(None, max_length=255)


class PolicyUpdate(_Body):
    name: str = Field("", max_length=255)
    description: str = Field("", max_length=255)
    shared: bool = False
    is_default: bool = False


class PolicyCreateBody(_Body):
    policy: PolicyCreate


class PolicyUpdateBody(_Body):
    policy: PolicyUpdate


class BandwidthLimitRuleCreate(_Body):
    max_kbps: int = Field(ge=0, le=MAX_KBPS)
    max_burst_kbps: int = Field(0, ge=0, le=MAX_KBPS)
    direction: Direction = Direction.EGRESS


class BandwidthLimitRuleUpdate(_Body):
    max_kbps: int = Field(0, ge=0, le=MAX_KBPS)
    max_burst_kbps: int = Field(0, ge=0, le=MAX_KBPS)
    direction: Direction = Direction.EGRESS


class MinimumBandwidthRuleCreate(_Body):
    min_kbps: int = Field(ge=0, le=MAX_KBPS)
    direction: Direction = Direction.EGRESS


class MinimumBandwidthRuleUpdate(_Body):
    min_kbps: int = Field(0, ge=0, le=MAX_KBPS)
    direction: Direction = Direction.EGRESS


class BandwidthLimitRuleCreateBody(_Body):
    bandwidth_limit_rule: BandwidthLimitRuleCreate


class BandwidthLimitRuleUpdateBody(_Body):
    bandwidth_limit_rule: BandwidthLimitRuleUpdate


class MinimumBandwidthRuleCreateBody(_Body):
    minimum_bandwidth_rule: MinimumBandwidthRuleCreate


class MinimumBandwidthRuleUpdateBody(_Body):
    minimum_bandwidth_rule: MinimumBandwidthRuleUpdate


def render_rule(rule: QosRule) -> dict[str, Any]:
    body: dict[str, Any] = {"id": rule.id}
    for name in service.RULE_FIELDS[RuleType(rule.rule_type)]:
        body[name] = getattr(rule, name)
    return body


def render_policy(policy: QosPolicy) -> dict[str, Any]:
    rules = [
        {**render_rule(r), "qos_policy_id": policy.id, "type": r.rule_type} for r in policy.rules
    ]
    return {
        "id": policy.id,
        "name": policy.name,
        "description": policy.description,
        "project_id": policy.project_id,
        "tenant_id": policy.project_id,
        "shared": policy.shared,
        "is_default": policy.is_default,
        "rules": rules,
        "tags": [],
        "created_at": iso(policy.created_at),
        "updated_at": iso(policy.updated_at),
        "revision_number": policy.revision_number,
    }


# --- policies ---------------------------------------------------------------


@router.get(POLICIES, summary="List QoS policies")
def list_policies(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    items = [render_policy(p) for p in service.list_policies(session, caller)]
    return collection(request, "policies", items)


@router.get(POLICIES + "/{policy_id}", summary="Show a QoS policy")
def show_policy(policy_id: str, request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    policy = service.get_policy(session, caller, policy_id)
    return single(request, "policy", render_policy(policy))


@router.post(POLICIES, status_code=201, summary="Create a QoS policy")
def create_policy(
    body: PolicyCreateBody, request: Request, caller: Caller, session: Db, deps: Deps
) -> dict[str, Any]:
    given = body.policy
    policy_request = service.PolicyRequest(
        name=given.name,
        description=given.description,
        shared=given.shared,
        is_default=given.is_default,
        project_id=given.project_id or given.tenant_id,
    )
    policy = service.create_policy(session, caller, policy_request, deps.clock())
    return single(request, "policy", render_policy(policy))


@router.put(POLICIES + "/{policy_id}", summary="Update a QoS policy")
def update_policy(
    policy_id: str,
    body: PolicyUpdateBody,
    request: Request,
    caller: Caller,
    session: Db,
    deps: Deps,
) -> dict[str, Any]:
    changes = changed(body.policy)
    policy = service.update_policy(session, caller, policy_id, changes, deps.clock())
    return single(request, "policy", render_policy(policy))


@router.delete(POLICIES + "/{policy_id}", status_code=204, summary="Delete a QoS policy")
def delete_policy(policy_id: str, caller: Caller, session: Db) -> Response:
    service.delete_policy(session, caller, policy_id)
    return Response(status_code=204)


# --- rule types -------------------------------------------------------------

_SUPPORTED_PARAMETERS: dict[RuleType, list[dict[str, Any]]] = {
    RuleType.BANDWIDTH_LIMIT: [
        {"parameter_name": "max_kbps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": MAX_KBPS}},
        {"parameter_name": "max_burst_kbps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": MAX_KBPS}},
        {"parameter_name": "direction", "parameter_type": "choices",
         "parameter_values": [Direction.EGRESS.value]},
    ],
    RuleType.MINIMUM_BANDWIDTH: [
        {"parameter_name": "min_kbps", "parameter_type": "range",
         "parameter_values": {"start": 0, "end": MAX_KBPS}},
        {"parameter_name": "direction", "parameter_type": "choices",
         "parameter_values": [d.value for d in Direction]},
    ],
}  # fmt: skip
"""What the sriovnicswitch QoS driver applies (§3): bandwidth limits on egress only."""


@router.get("/qos/rule-types", summary="List the QoS rule types")
def list_rule_types(request: Request, _caller: Caller) -> dict[str, Any]:
    return collection(request, "rule_types", [{"type": t.value} for t in RuleType])


@router.get("/qos/rule-types/{rule_type}", summary="Show a QoS rule type and its drivers")
def show_rule_type(rule_type: str, request: Request, caller: Caller) -> dict[str, Any]:
    caller.require_admin("Showing a QoS rule type")
    if rule_type not in {t.value for t in RuleType}:
        raise NotFound(f"QoS rule type {rule_type} could not be found.",
                       kind="QosRuleTypeNotFound")  # fmt: skip
    parameters = _SUPPORTED_PARAMETERS[RuleType(rule_type)]
    driver = {"name": "sriovnicswitch", "supported_parameters": parameters}
    return single(request, "rule_type", {"type": rule_type, "drivers": [driver]})


# --- rules ------------------------------------------------------------------
# One set of handlers per rule type; the bodies differ, the rest is shared.


def _list_rules(
    request: Request, caller: Caller, session: Db, policy_id: str, rule_type: RuleType
) -> dict[str, Any]:
    rules = service.list_rules(session, caller, policy_id, rule_type)
    return collection(request, f"{rule_type}_rules", [render_rule(r) for r in rules])


def _show_rule(
    request: Request, caller: Caller, session: Db, ids: tuple[str, str], rule_type: RuleType
) -> dict[str, Any]:
    rule = service.get_rule(session, caller, ids[0], rule_type, ids[1])
    return single(request, f"{rule_type}_rule", render_rule(rule))


def _rendered_rule(request: Request, rule: QosRule) -> dict[str, Any]:
    return single(request, f"{rule.rule_type}_rule", render_rule(rule))


@router.get(BW_LIMIT, summary="List bandwidth limit rules")
def list_bandwidth_limit_rules(
    policy_id: str, request: Request, caller: Caller, session: Db
) -> dict[str, Any]:
    return _list_rules(request, caller, session, policy_id, RuleType.BANDWIDTH_LIMIT)


@router.get(BW_LIMIT + "/{rule_id}", summary="Show a bandwidth limit rule")
def show_bandwidth_limit_rule(
    policy_id: str, rule_id: str, request: Request, caller: Caller, session: Db
) -> dict[str, Any]:
    ids = (policy_id, rule_id)
    return _show_rule(request, caller, session, ids, RuleType.BANDWIDTH_LIMIT)


@router.post(BW_LIMIT, status_code=201, summary="Create a bandwidth limit rule")
def create_bandwidth_limit_rule(
    policy_id: str,
    body: BandwidthLimitRuleCreateBody,
    request: Request,
    caller: Caller,
    session: Db,
    deps: Deps,
) -> dict[str, Any]:
    given = body.bandwidth_limit_rule.model_dump()
    rule = service.create_rule(
        session, caller, policy_id, RuleType.BANDWIDTH_LIMIT, given, deps.clock()
    )
    return _rendered_rule(request, rule)


@router.put(BW_LIMIT + "/{rule_id}", summary="Update a bandwidth limit rule")
def update_bandwidth_limit_rule(
    policy_id: str,
    rule_id: str,
    body: BandwidthLimitRuleUpdateBody,
    request: Request,
    caller: Caller,
    session: Db,
    deps: Deps,
) -> dict[str, Any]:
    changes = changed(body.bandwidth_limit_rule)
    rule = service.update_rule(
        session, caller, policy_id, RuleType.BANDWIDTH_LIMIT, rule_id, changes, deps.clock()
    )
    return _rendered_rule(request, rule)


@router.delete(BW_LIMIT + "/{rule_id}", status_code=204, summary="Delete a bandwidth limit rule")
def delete_bandwidth_limit_rule(
    policy_id: str, rule_id: str, caller: Caller, session: Db, deps: Deps
) -> Response:
    service.delete_rule(session, caller, policy_id, RuleType.BANDWIDTH_LIMIT, rule_id, deps.clock())
    return Response(status_code=204)


@router.get(MIN_BW, summary="List minimum bandwidth rules")
def list_minimum_bandwidth_rules(
    policy_id: str, request: Request, caller: Caller, session: Db
) -> dict[str, Any]:
    return _list_rules(request, caller, session, policy_id, RuleType.MINIMUM_BANDWIDTH)


@router.get(MIN_BW + "/{rule_id}", summary="Show a minimum bandwidth rule")
def show_minimum_bandwidth_rule(
    policy_id: str, rule_id: str, request: Request, caller: Caller, session: Db
) -> dict[str, Any]:
    ids = (policy_id, rule_id)
    return _show_rule(request, caller, session, ids, RuleType.MINIMUM_BANDWIDTH)


@router.post(MIN_BW, status_code=201, summary="Create a minimum bandwidth rule")
def create_minimum_bandwidth_rule(
    policy_id: str,
    body: MinimumBandwidthRuleCreateBody,
    request: Request,
    caller: Caller,
    session: Db,
    deps: Deps,
) -> dict[str, Any]:
    given = body.minimum_bandwidth_rule.model_dump()
    rule = service.create_rule(
        session, caller, policy_id, RuleType.MINIMUM_BANDWIDTH, given, deps.clock()
    )
    return _rendered_rule(request, rule)


@router.put(MIN_BW + "/{rule_id}", summary="Update a minimum bandwidth rule")
def update_minimum_bandwidth_rule(
    policy_id: str,
    rule_id: str,
    body: MinimumBandwidthRuleUpdateBody,
    request: Request,
    caller: Caller,
    session: Db,
    deps: Deps,
) -> dict[str, Any]:
    changes = changed(body.minimum_bandwidth_rule)
    rule = service.update_rule(
        session, caller, policy_id, RuleType.MINIMUM_BANDWIDTH, rule_id, changes, deps.clock()
    )
    return _rendered_rule(request, rule)


@router.delete(MIN_BW + "/{rule_id}", status_code=204, summary="Delete a minimum bandwidth rule")
def delete_minimum_bandwidth_rule(
    policy_id: str, rule_id: str, caller: Caller, session: Db, deps: Deps
) -> Response:
    service.delete_rule(
        session, caller, policy_id, RuleType.MINIMUM_BANDWIDTH, rule_id, deps.clock()
    )
    return Response(status_code=204)
