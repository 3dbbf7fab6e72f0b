"""Every answer carries a request id, as OpenStack services answer: the caller's
well-formed ``X-OpenStack-Request-ID`` or a new one; every line logged serving the request
carries it, and the desired state names the request that last changed each port."""

from __future__ import annotations

import logging

import pytest

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import create_port, make_network, update_port
from tests.functional.faults.cloud import HOST, VFS, register_host
from vfplane import logs

REQUEST_ID = "X-OpenStack-Request-ID"


def test_each_response_has_its_own_request_id(api: Api) -> None:
    first = api.get("demo", "/network/v2.0/networks")
    second = api.client.get("/network/v2.0/networks")  # refused (no token) still has one
    ids = [r.headers.get("X-OpenStack-Request-ID", "") for r in (first, second)]
    assert second.status_code == 401
    assert all(i.startswith("req-") for i in ids)
    assert ids[0] != ids[1]


INBOUND = "req-0b5e7c1a-2d3f-4e5a-9b6c-7d8e9f0a1b2c"


@pytest.mark.parametrize(
    "given",
    [
        "req-0B5E7C1A-2D3F-4E5A-9B6C-7D8E9F0A1B2C",  # oslo's ids are lower-case
        "0b5e7c1a-2d3f-4e5a-9b6c-7d8e9f0a1b2c",
        f"{INBOUND}x",
        "req-1",
        "",
    ],
)
def test_a_malformed_inbound_request_id_is_replaced(api: Api, given: str) -> None:
    response = api.get("demo", "/network/v2.0/networks", headers={REQUEST_ID: given})
    answered = response.headers[REQUEST_ID]
    assert answered != given
    assert logs.valid_request_id(answered)


def test_a_well_formed_inbound_request_id_is_the_request_s(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(logs.ContextFilter())
    caplog.set_level(logging.INFO)
    response = api.get("demo", "/network/v2.0/networks", headers={REQUEST_ID: INBOUND})
    assert response.headers[REQUEST_ID] == INBOUND
    (line,) = [r for r in caplog.records if r.name == "vfplane.api.access"]
    assert (line.getMessage(), line.request_id) == ("GET /network/v2.0/networks 200", INBOUND)


def _bound_port(api: Api) -> tuple[str, str]:
    """A direct port bound to a VF of compute-1; its id and the id of the request that bound it."""
    register_host(api)
    network_id = make_network(api, vlan=120)
    binding = {"binding:vnic_type": "direct", "binding:host_id": HOST,
               "binding:profile": {"pci_slot": VFS[0]}}  # fmt: skip
    response = create_port(api, "admin", network_id, **binding)
    assert response.status_code == 201, response.text
    return response.json()["port"]["id"], response.headers[REQUEST_ID]


def test_every_line_made_serving_a_request_carries_its_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    port_id, _ = _bound_port(api)
    caplog.handler.addFilter(logs.ContextFilter())
    caplog.set_level(logging.INFO)
    report = api.post("agent", f"/v1/hosts/{HOST}/ports/status", {"up": [port_id]},
                      headers={REQUEST_ID: INBOUND})  # fmt: skip
    assert report.status_code == 200, report.text
    lines = {(r.name, r.getMessage()): r for r in caplog.records}
    service_line = lines[
        "vfplane.service.hosts", f"port {port_id} is ACTIVE on host {HOST} (its agent reports)"
    ]  # fmt: skip  (logged in a worker thread)
    access_line = lines["vfplane.api.access", f"POST /v1/hosts/{HOST}/ports/status 200"]
    assert service_line.request_id == access_line.request_id == INBOUND
    assert (service_line.port_id, service_line.host) == (port_id, HOST)
    caplog.clear()
    other = api.get("admin", "/network/v2.0/networks").headers[REQUEST_ID]
    (line,) = [r for r in caplog.records if r.name == "vfplane.api.access"]
    assert line.request_id == other != INBOUND  # the next request has its own


def test_the_desired_state_names_the_request_that_last_changed_each_port(api: Api) -> None:
    port_id, created_by = _bound_port(api)
    desired = api.get("agent", f"/v1/hosts/{HOST}/desired?timeout=0").json()
    assert [(p["port_id"], p["request_id"]) for p in desired["ports"]] == [(port_id, created_by)]
    update = update_port(api, "admin", port_id, admin_state_up=False)
    assert update.status_code == 200, update.text
    desired = api.get("agent", f"/v1/hosts/{HOST}/desired?timeout=0").json()
    assert desired["ports"][0]["request_id"] == update.headers[REQUEST_ID] != created_by
    assert desired["released"] == {"servers": {}, "ports": {}}


def test_a_report_names_the_request_behind_each_port_it_reports(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    port_id, created_by = _bound_port(api)
    caplog.handler.addFilter(logs.ContextFilter())
    caplog.set_level(logging.INFO)
    body = {"up": [port_id], "request_ids": {port_id: created_by}}
    report = api.post("agent", f"/v1/hosts/{HOST}/ports/status", body)  # no header: several
    assert report.status_code == 200, report.text
    (line,) = [r for r in caplog.records if r.name == "vfplane.service.hosts"]
    assert (line.port_id, line.request_id) == (port_id, created_by)
    malformed = {"down": [port_id], "request_ids": {port_id: "not-a-request-id"}}
    refused = api.post("agent", f"/v1/hosts/{HOST}/ports/status", malformed)
    assert refused.status_code == 400, refused.text
    assert "request_ids" in refused.text
