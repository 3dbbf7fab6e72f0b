"""QoS policies and bandwidth rules, as ``openstack network qos ...`` uses them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.functional.api.conftest import Api
from vfplane.db.tables import Port
from vfplane.domain.qos import RuleType
from vfplane.errors import InvalidInput
from vfplane.service import qos as service
from vfplane.service.context import ADMIN, RequestContext

POLICIES = "/network/v2.0/qos/policies"
NETS = "/network/v2.0/networks"
BW = "bandwidth_limit"
MIN = "minimum_bandwidth"


def _policy(api: Api, who: str = "demo", **attrs: Any) -> dict[str, Any]:
    response = api.post(who, POLICIES, {"policy": {"name": "q1", **attrs}})
    assert response.status_code == 201, response.text
    policy: dict[str, Any] = response.json()["policy"]
    return policy


def _rules(policy_id: str, kind: str) -> str:
    return f"{POLICIES}/{policy_id}/{kind}_rules"


def _add_rule(api: Api, who: str, policy_id: str, kind: str, **attrs: Any) -> httpx.Response:
    return api.post(who, _rules(policy_id, kind), {f"{kind}_rule": attrs})


def _rule(api: Api, who: str, policy_id: str, kind: str, **attrs: Any) -> dict[str, Any]:
    response = _add_rule(api, who, policy_id, kind, **attrs)
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()[f"{kind}_rule"]
    return rule


def _error(response: httpx.Response, status: int) -> tuple[str, str]:
    assert response.status_code == status, response.text
    error = response.json()["NeutronError"]
    return error["type"], error["message"]


def _show(api: Api, who: str, policy_id: str) -> dict[str, Any]:
    response = api.get(who, f"{POLICIES}/{policy_id}")
    assert response.status_code == 200, response.text
    policy: dict[str, Any] = response.json()["policy"]
    return policy


def _network(api: Api, who: str, policy_id: str | None) -> str:
    created = api.post(who, NETS, {"network": {"name": "n", "admin_state_up": True}})
    assert created.status_code == 201, created.text
    network_id: str = created.json()["network"]["id"]
    _attach(api, who, network_id, policy_id)
    return network_id


def _attach(api: Api, who: str, network_id: str, policy_id: str | None) -> None:
    body = {"network": {"qos_policy_id": policy_id}}
    assert api.put(who, f"{NETS}/{network_id}", body).status_code == 200


# --- policies ---------------------------------------------------------------


def test_create_show_and_list_a_policy(api: Api) -> None:
    policy = _policy(api, description="gold")
    project = api.project_of("demo")
    assert policy["name"] == "q1"
    assert policy["description"] == "gold"
    assert policy["project_id"] == policy["tenant_id"] == project
    assert policy["shared"] is False
    assert policy["is_default"] is False
    assert policy["rules"] == []
    assert policy["tags"] == []
    assert policy["revision_number"] == 1
    assert policy["created_at"].endswith("Z")
    assert policy["updated_at"] == policy["created_at"]
    assert _show(api, "demo", policy["id"]) == policy
    listed = api.get("demo", POLICIES).json()["policies"]
    assert [p["id"] for p in listed] == [policy["id"]]


def test_lookup_by_name_as_the_cli_does(api: Api) -> None:
    policy = _policy(api)
    _policy(api, name="q2")
    assert _error(api.get("demo", f"{POLICIES}/q1"), 404)[0] == "QosPolicyNotFound"
    found = api.get("demo", POLICIES, params={"name": "q1"}).json()["policies"]
    assert [p["id"] for p in found] == [policy["id"]]


def test_private_policies_are_invisible_to_other_projects(api: Api) -> None:
    private = _policy(api)
    kind, message = _error(api.get("other", f"{POLICIES}/{private['id']}"), 404)
    assert kind == "QosPolicyNotFound"
    assert private["id"] in message
    assert api.get("other", POLICIES).json()["policies"] == []
    assert _show(api, "admin", private["id"])["id"] == private["id"]
    assert _show(api, "agent", private["id"])["id"] == private["id"]
    assert _show(api, "reader", private["id"])["id"] == private["id"]


def test_shared_policies_are_visible_to_every_project(api: Api) -> None:
    shared = _policy(api, "admin", name="gold", shared=True)
    mine = _policy(api, "other", name="mine")
    assert shared["shared"] is True
    assert _show(api, "demo", shared["id"])["shared"] is True
    listed = {p["id"] for p in api.get("other", POLICIES).json()["policies"]}
    assert listed == {shared["id"], mine["id"]}


def test_only_admins_create_shared_policies(api: Api) -> None:
    kind, message = _error(api.post("demo", POLICIES, {"policy": {"shared": True}}), 403)
    assert kind == "PolicyNotAuthorized"
    assert "shared" in message
    assert api.get("admin", POLICIES).json()["policies"] == []


def test_policies_for_another_project_need_admin(api: Api) -> None:
    demo = api.project_of("demo")
    body = {"policy": {"name": "x", "project_id": api.project_of("other")}}
    assert _error(api.post("demo", POLICIES, body), 403)[0] == "PolicyNotAuthorized"
    by_admin = _policy(api, "admin", tenant_id=demo)
    assert by_admin["project_id"] == demo
    assert _show(api, "demo", by_admin["id"])["id"] == by_admin["id"]


def test_readers_may_look_but_not_write(api: Api) -> None:
    policy = _policy(api)
    assert _error(api.post("reader", POLICIES, {"policy": {}}), 403)[0] == "PolicyNotAuthorized"
    body = {"policy": {"name": "renamed"}}
    assert api.put("reader", f"{POLICIES}/{policy['id']}", body).status_code == 403
    assert _add_rule(api, "reader", policy["id"], BW, max_kbps=1).status_code == 403
    assert api.delete("reader", f"{POLICIES}/{policy['id']}").status_code == 403


def test_update_a_policy_bumps_its_revision(api: Api) -> None:
    policy = _policy(api)
    body = {"policy": {"name": "silver", "description": "d"}}
    response = api.put("demo", f"{POLICIES}/{policy['id']}", body)
    assert response.status_code == 200, response.text
    updated = response.json()["policy"]
    assert (updated["name"], updated["description"]) == ("silver", "d")
    assert updated["revision_number"] == 2
    assert updated["created_at"] == policy["created_at"]


def test_update_policy_refusals(api: Api) -> None:
    policy = _policy(api)
    path = f"{POLICIES}/{policy['id']}"
    _, message = _error(api.put("demo", path, {"policy": {"shared": True}}), 403)
    assert "shared" in message
    assert _error(api.put("other", path, {"policy": {"name": "x"}}), 404)[0] == "QosPolicyNotFound"
    message = _error(api.put("demo", path, {"policy": {"id": "x"}}), 400)[1]
    assert "policy.id: Unrecognized attribute" in message
    assert "policy.name" in _error(api.put("demo", path, {"policy": {"name": None}}), 400)[1]
    assert _show(api, "demo", policy["id"])["revision_number"] == 1


def test_admin_shares_a_policy_later(api: Api) -> None:
    policy = _policy(api)
    response = api.put("admin", f"{POLICIES}/{policy['id']}", {"policy": {"shared": True}})
    assert response.json()["policy"]["shared"] is True
    assert _show(api, "other", policy["id"])["shared"] is True


def test_other_projects_may_not_change_a_shared_policy(api: Api) -> None:
    shared = _policy(api, "admin", shared=True)
    path = f"{POLICIES}/{shared['id']}"
    assert (
        _error(api.put("other", path, {"policy": {"name": "x"}}), 403)[0] == "PolicyNotAuthorized"
    )
    assert api.delete("other", path).status_code == 403


def test_unsharing_a_policy_other_projects_use_is_a_conflict(api: Api) -> None:
    shared = _policy(api, "admin", shared=True)
    network_id = _network(api, "other", shared["id"])
    path = f"{POLICIES}/{shared['id']}"
    kind, message = _error(api.put("admin", path, {"policy": {"shared": False}}), 409)
    assert kind == "QosPolicyInUse"
    assert f"network {network_id}" in message
    _attach(api, "other", network_id, None)
    assert api.put("admin", path, {"policy": {"shared": False}}).status_code == 200


def test_one_default_policy_per_project(api: Api) -> None:
    default = _policy(api, is_default=True)
    assert default["is_default"] is True
    body = {"policy": {"name": "q2", "is_default": True}}
    kind, message = _error(api.post("demo", POLICIES, body), 409)
    assert kind == "QoSPolicyDefaultAlreadyExists"
    assert api.project_of("demo") in message
    second = _policy(api, name="q2")
    path = f"{POLICIES}/{second['id']}"
    assert _error(api.put("demo", path, {"policy": {"is_default": True}}), 409)[0] == kind
    assert _policy(api, "other", is_default=True)["is_default"] is True
    path = f"{POLICIES}/{default['id']}"
    assert api.put("demo", path, {"policy": {"is_default": True}}).status_code == 200


def test_delete_a_policy(api: Api) -> None:
    policy = _policy(api)
    _rule(api, "demo", policy["id"], BW, max_kbps=1000)
    assert api.delete("other", f"{POLICIES}/{policy['id']}").status_code == 404
    assert api.delete("demo", f"{POLICIES}/{policy['id']}").status_code == 204
    assert api.get("demo", f"{POLICIES}/{policy['id']}").status_code == 404
    assert api.get("admin", POLICIES).json()["policies"] == []


def test_deleting_a_policy_a_network_uses_is_a_conflict(api: Api) -> None:
    policy = _policy(api)
    network_id = _network(api, "demo", policy["id"])
    kind, message = _error(api.delete("demo", f"{POLICIES}/{policy['id']}"), 409)
    assert kind == "QosPolicyInUse"
    assert message == f"QoS Policy {policy['id']} is used by network {network_id}."
    _attach(api, "demo", network_id, None)
    assert api.delete("demo", f"{POLICIES}/{policy['id']}").status_code == 204


def _port(api: Api, network_id: str, policy_id: str | None) -> Port:
    now = api.deps.clock()
    port = Port(
        id=str(uuid.uuid4()),
        project_id=api.project_of("demo"),
        network_id=network_id,
        mac_address="fa:16:3e:" + ":".join(uuid.uuid4().hex[i : i + 2] for i in (0, 2, 4)),
        qos_policy_id=policy_id,
        created_at=now,
        updated_at=now,
    )
    with api.deps.sessions() as session:
        session.add(port)
        session.commit()
    return port


def test_deleting_a_policy_a_port_uses_is_a_conflict(api: Api) -> None:
    policy = _policy(api)
    port = _port(api, _network(api, "demo", None), policy["id"])
    kind, message = _error(api.delete("demo", f"{POLICIES}/{policy['id']}"), 409)
    assert kind == "QosPolicyInUse"
    assert message.endswith(f"is used by port {port.id}.")


# --- rules ------------------------------------------------------------------


def test_bandwidth_limit_rule_lifecycle(api: Api) -> None:
    policy = _policy(api)
    rule = _rule(api, "demo", policy["id"], BW, max_kbps=10000)
    assert rule == {
        "id": rule["id"],
        "max_kbps": 10000,
        "max_burst_kbps": 0,
        "direction": "egress",
    }
    shown = _show(api, "demo", policy["id"])
    assert shown["revision_number"] == 2
    assert shown["rules"] == [{**rule, "qos_policy_id": policy["id"], "type": BW}]
    path = f"{_rules(policy['id'], BW)}/{rule['id']}"
    assert api.get("demo", path).json() == {"bandwidth_limit_rule": rule}
    listed = api.get("demo", _rules(policy["id"], BW)).json()
    assert listed == {"bandwidth_limit_rules": [rule]}
    body = {"bandwidth_limit_rule": {"max_kbps": 20000, "max_burst_kbps": 2000}}
    updated = api.put("demo", path, body).json()["bandwidth_limit_rule"]
    assert (updated["max_kbps"], updated["max_burst_kbps"]) == (20000, 2000)
    assert _show(api, "demo", policy["id"])["revision_number"] == 3
    assert api.delete("demo", path).status_code == 204
    shown = _show(api, "demo", policy["id"])
    assert (shown["rules"], shown["revision_number"]) == ([], 4)
    kind, message = _error(api.get("demo", path), 404)
    assert kind == "QosRuleNotFound"
    assert rule["id"] in message


def test_minimum_bandwidth_rule_lifecycle(api: Api) -> None:
    policy = _policy(api)
    rule = _rule(api, "admin", policy["id"], MIN, min_kbps=1000, direction="ingress")
    assert rule == {"id": rule["id"], "min_kbps": 1000, "direction": "ingress"}
    path = f"{_rules(policy['id'], MIN)}/{rule['id']}"
    assert api.get("demo", _rules(policy["id"], MIN)).json()["minimum_bandwidth_rules"] == [rule]
    updated = api.put("admin", path, {"minimum_bandwidth_rule": {"min_kbps": 2000}}).json()
    assert updated["minimum_bandwidth_rule"] == {**rule, "min_kbps": 2000}
    assert _show(api, "demo", policy["id"])["rules"][0]["type"] == MIN
    assert api.delete("demo", path).status_code == 204
    assert api.delete("demo", path).status_code == 404


def test_only_admins_guarantee_bandwidth(api: Api) -> None:
    policy = _policy(api)
    kind, message = _error(_add_rule(api, "demo", policy["id"], MIN, min_kbps=1000), 403)
    assert kind == "PolicyNotAuthorized"
    assert "minimum bandwidth" in message
    rule = _rule(api, "admin", policy["id"], MIN, min_kbps=1000)
    path = f"{_rules(policy['id'], MIN)}/{rule['id']}"
    body = {"minimum_bandwidth_rule": {"min_kbps": 9000}}
    assert api.put("demo", path, body).status_code == 403


def test_rule_paths_keep_their_type(api: Api) -> None:
    policy = _policy(api)
    rule = _rule(api, "demo", policy["id"], BW, max_kbps=1000)
    path = f"{_rules(policy['id'], MIN)}/{rule['id']}"
    assert _error(api.get("demo", path), 404)[0] == "QosRuleNotFound"
    assert api.delete("demo", path).status_code == 404
    assert api.get("demo", _rules(policy["id"], MIN)).json()["minimum_bandwidth_rules"] == []


def test_cli_sends_rates_as_given(api: Api) -> None:
    policy = _policy(api)
    rule = _rule(api, "demo", policy["id"], BW, max_kbps="10000")
    assert rule["max_kbps"] == 10000


def test_one_rule_per_type_and_direction(api: Api) -> None:
    policy = _policy(api)
    first = _rule(api, "demo", policy["id"], BW, max_kbps=1000)
    kind, message = _error(_add_rule(api, "demo", policy["id"], BW, max_kbps=2000), 409)
    assert kind == "QoSRulesConflict"
    assert first["id"] in message
    ingress = _rule(api, "demo", policy["id"], BW, max_kbps=2000, direction="ingress")
    path = f"{_rules(policy['id'], BW)}/{ingress['id']}"
    body = {"bandwidth_limit_rule": {"direction": "egress"}}
    assert _error(api.put("demo", path, body), 409)[0] == "QoSRulesConflict"
    assert _rule(api, "admin", policy["id"], MIN, min_kbps=500)["direction"] == "egress"
    assert _show(api, "demo", policy["id"])["revision_number"] == 4


def test_guarantee_above_the_limit_is_a_conflict(api: Api) -> None:
    policy = _policy(api)
    _rule(api, "demo", policy["id"], BW, max_kbps=1000)
    kind, message = _error(_add_rule(api, "admin", policy["id"], MIN, min_kbps=2000), 409)
    assert kind == "QoSRuleParameterConflict"
    assert "value 2000" in message
    assert "restricts the bandwidth to 1000" in message
    assert _add_rule(api, "admin", policy["id"], MIN, min_kbps=2000, direction="ingress").is_success
    minimum = _rule(api, "admin", policy["id"], MIN, min_kbps=1000)
    other = _policy(api, name="q2")
    _rule(api, "admin", other["id"], MIN, min_kbps=5000)
    assert _error(_add_rule(api, "demo", other["id"], BW, max_kbps=4000), 409)[0] == kind
    assert _rule(api, "demo", other["id"], BW, max_kbps=0)["max_kbps"] == 0  # unlimited
    path = f"{_rules(policy['id'], MIN)}/{minimum['id']}"
    body = {"minimum_bandwidth_rule": {"min_kbps": 1001}}
    assert _error(api.put("admin", path, body), 409)[0] == kind


@pytest.mark.parametrize(
    ("kind", "attrs", "field"),
    [
        (BW, {"max_kbps": "abc"}, "bandwidth_limit_rule.max_kbps"),
        (BW, {"max_kbps": -1}, "bandwidth_limit_rule.max_kbps"),
        (BW, {"max_kbps": 2**31}, "bandwidth_limit_rule.max_kbps"),
        (BW, {}, "bandwidth_limit_rule.max_kbps"),
        (BW, {"max_kbps": 1, "max_burst_kbps": -5}, "bandwidth_limit_rule.max_burst_kbps"),
        (BW, {"max_kbps": 1, "direction": "sideways"}, "bandwidth_limit_rule.direction"),
        (BW, {"max_kbps": 1, "type": "dscp"}, "bandwidth_limit_rule.type"),
        (MIN, {"min_kbps": "fast"}, "minimum_bandwidth_rule.min_kbps"),
        (MIN, {"min_kbps": 1, "max_kbps": 1}, "minimum_bandwidth_rule.max_kbps"),
    ],
)
def test_invalid_rule_bodies_name_the_field(
    api: Api, kind: str, attrs: dict[str, Any], field: str
) -> None:
    policy = _policy(api)
    error, message = _error(_add_rule(api, "demo", policy["id"], kind, **attrs), 400)
    assert error == "HTTPBadRequest"
    assert f"Invalid input for {field}" in message
    assert _show(api, "demo", policy["id"])["rules"] == []


def test_invalid_rule_updates_name_the_field(api: Api) -> None:
    policy = _policy(api)
    rule = _rule(api, "demo", policy["id"], BW, max_kbps=1000)
    path = f"{_rules(policy['id'], BW)}/{rule['id']}"
    for value in (None, -1, "abc"):
        body = {"bandwidth_limit_rule": {"max_kbps": value}}
        assert "bandwidth_limit_rule.max_kbps" in _error(api.put("demo", path, body), 400)[1]
    assert _error(api.put("demo", path, {"rule": {}}), 400)[1].startswith("Invalid input")
    assert _show(api, "demo", policy["id"])["rules"][0]["max_kbps"] == 1000


def test_only_the_owner_or_admin_changes_rules(api: Api) -> None:
    private = _policy(api)
    assert _error(_add_rule(api, "other", private["id"], BW, max_kbps=1), 404)[0] == (
        "QosPolicyNotFound"
    )
    assert api.get("other", _rules(private["id"], BW)).status_code == 404
    by_admin = _rule(api, "admin", private["id"], BW, max_kbps=1000)
    path = f"{_rules(private['id'], BW)}/{by_admin['id']}"
    assert api.put("admin", path, {"bandwidth_limit_rule": {"max_kbps": 5}}).status_code == 200
    assert api.delete("demo", path).status_code == 204


def test_shared_policy_rules(api: Api) -> None:
    shared = _policy(api, "admin", shared=True)
    rule = _rule(api, "admin", shared["id"], BW, max_kbps=5000)
    assert api.get("other", _rules(shared["id"], BW)).json()["bandwidth_limit_rules"] == [rule]
    path = f"{_rules(shared['id'], BW)}/{rule['id']}"
    assert api.get("demo", path).json()["bandwidth_limit_rule"] == rule
    kind, _ = _error(_add_rule(api, "other", shared["id"], MIN, min_kbps=1), 403)
    assert kind == "PolicyNotAuthorized"
    assert api.put("other", path, {"bandwidth_limit_rule": {"max_kbps": 1}}).status_code == 403
    assert api.delete("other", path).status_code == 403
    assert _show(api, "other", shared["id"])["rules"][0]["max_kbps"] == 5000


def test_rules_of_a_missing_policy_are_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert _error(_add_rule(api, "admin", missing, BW, max_kbps=1), 404)[0] == "QosPolicyNotFound"
    assert api.get("admin", _rules(missing, MIN)).status_code == 404


# --- rule types -------------------------------------------------------------


def test_rule_types(api: Api) -> None:
    listed = api.get("demo", "/network/v2.0/qos/rule-types").json()
    assert listed == {"rule_types": [{"type": BW}, {"type": MIN}]}
    shown = api.get("admin", f"/network/v2.0/qos/rule-types/{BW}").json()["rule_type"]
    assert shown["type"] == BW
    (driver,) = shown["drivers"]
    assert driver["name"] == "sriovnicswitch"
    params = {p["parameter_name"]: p for p in driver["supported_parameters"]}
    assert params["direction"]["parameter_values"] == ["egress"]
    assert set(params) == {"max_kbps", "max_burst_kbps", "direction"}
    assert api.get("demo", f"/network/v2.0/qos/rule-types/{BW}").status_code == 403
    missing = api.get("admin", "/network/v2.0/qos/rule-types/dscp_marking")
    assert _error(missing, 404)[0] == "QosRuleTypeNotFound"


# --- what the agent applies -------------------------------------------------


def _rates(api: Api, port: Port) -> tuple[int | None, int | None]:
    with api.deps.sessions() as session:
        return service.effective_rates(session, port)


def test_effective_rates_prefer_the_port_policy(api: Api) -> None:
    on_network = _policy(api, name="net")
    _rule(api, "demo", on_network["id"], BW, max_kbps=1000)
    _rule(api, "admin", on_network["id"], MIN, min_kbps=500)
    on_port = _policy(api, name="port")
    _rule(api, "demo", on_port["id"], BW, max_kbps=3000, direction="ingress")
    _rule(api, "admin", on_port["id"], MIN, min_kbps=2000)
    network_id = _network(api, "demo", on_network["id"])
    assert _rates(api, _port(api, network_id, None)) == (1000, 500)
    assert _rates(api, _port(api, network_id, on_port["id"])) == (None, 2000)


def test_effective_rates_without_a_policy(api: Api) -> None:
    empty = _policy(api)
    assert _rates(api, _port(api, _network(api, "demo", None), None)) == (None, None)
    assert _rates(api, _port(api, _network(api, "demo", empty["id"]), None)) == (None, None)


def test_service_refuses_unknown_or_missing_rule_attributes(api: Api) -> None:
    policy = _policy(api)
    admin = RequestContext(user_id="u", project_id="p", roles=frozenset({ADMIN}))
    kind, now = RuleType.BANDWIDTH_LIMIT, api.deps.clock()
    with api.deps.sessions() as session:
        for given, word in (({"max_kbps": 1, "colour": "red"}, "colour"), ({}, "max_kbps")):
            with pytest.raises(InvalidInput, match=word):
                service.create_rule(session, admin, policy["id"], kind, given, now)
