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


def _add_rule_routes(
    rule_type: RuleType, create_body: type[_Body], update_body: type[_Body]
) -> None:
    """The five handlers of one rule type: only the request bodies differ between types."""
    path = f"/qos/policies/{{policy_id}}/{rule_type}_rules"
    key, noun = f"{rule_type}_rule", str(rule_type).replace("_", " ") + " rule"

    def list_rules(policy_id: str, request: Request, caller: Caller, session: Db) -> dict[str, Any]:
        rules = service.list_rules(session, caller, policy_id, rule_type)
        return collection(request, f"{key}s", [render_rule(r) for r in rules])

    def show_rule(
        policy_id: str, rule_id: str, request: Request, caller: Caller, session: Db
    ) -> dict[str, Any]:
        rule = service.get_rule(session, caller, policy_id, rule_type, rule_id)
        return single(request, key, render_rule(rule))

    def create_rule(
        policy_id: str, body: _Body, request: Request, caller: Caller, session: Db, deps: Deps
    ) -> dict[str, Any]:
        given = getattr(body, key).model_dump()
        rule = service.create_rule(session, caller, policy_id, rule_type, given, deps.clock())
        return single(request, key, render_rule(rule))

    def update_rule(
        policy_id: str, rule_id: str, body: _Body, request: Request, caller: Caller, session: Db,
        deps: Deps,
    ) -> dict[str, Any]:  # fmt: skip
        changes = changed(getattr(body, key))
        rule = service.update_rule(session, caller, policy_id, rule_type, rule_id, changes,
                                   deps.clock())  # fmt: skip
        return single(request, key, render_rule(rule))

    def delete_rule(
        policy_id: str, rule_id: str, caller: Caller, session: Db, deps: Deps
    ) -> Response:
        service.delete_rule(session, caller, policy_id, rule_type, rule_id, deps.clock())
        return Response(status_code=204)

    # FastAPI reads the body model from the annotation; these two differ per rule type.
    create_rule.__annotations__["body"] = create_body
    update_rule.__annotations__["body"] = update_body
    one = path + "/{rule_id}"
    for route, endpoint, method, status, summary in (
        (path, list_rules, "GET", 200, f"List {noun}s"),
        (one, show_rule, "GET", 200, f"Show a {noun}"),
        (path, create_rule, "POST", 201, f"Create a {noun}"),
        (one, update_rule, "PUT", 200, f"Update a {noun}"),
        (one, delete_rule, "DELETE", 204, f"Delete a {noun}"),
    ):
        verb = endpoint.__name__.split("_")[0]
        name = f"{verb}_{key}s" if verb == "list" else f"{verb}_{key}"
        router.add_api_route(route, endpoint, methods=[method], status_code=status,
                             summary=summary, name=name)  # fmt: skip


_add_rule_routes(
    RuleType.BANDWIDTH_LIMIT, BandwidthLimitRuleCreateBody, BandwidthLimitRuleUpdateBody
)
_add_rule_routes(
    RuleType.MINIMUM_BANDWIDTH, MinimumBandwidthRuleCreateBody, MinimumBandwidthRuleUpdateBody
)
