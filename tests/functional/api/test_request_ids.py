"""Every answer carries a request id of its own, as OpenStack services answer."""

from __future__ import annotations

from tests.functional.api.conftest import Api


def test_each_response_has_its_own_request_id(api: Api) -> None:
    first = api.get("demo", "/network/v2.0/networks")
    second = api.client.get("/network/v2.0/networks")  # refused (no token) still has one
    ids = [r.headers.get("X-OpenStack-Request-ID", "") for r in (first, second)]
    assert second.status_code == 401
    assert all(i.startswith("req-") for i in ids)
    assert ids[0] != ids[1]
