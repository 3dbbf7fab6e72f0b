"""Nova version discovery and microversion negotiation under ``/compute``."""

from __future__ import annotations

import pytest

from tests.functional.api.conftest import Api

SELF = "http://testserver/compute/v2.1/"


@pytest.mark.parametrize("path", ["/compute/v2.1", "/compute/v2.1/"])
def test_versioned_discovery_is_anonymous(api: Api, path: str) -> None:
    response = api.get(None, path)
    assert response.status_code == 200
    version = response.json()["version"]
    assert version["id"] == "v2.1"
    assert version["status"] == "CURRENT"
    assert version["version"] == "2.96"
    assert version["min_version"] == "2.1"
    assert {"rel": "self", "href": SELF} in version["links"]


@pytest.mark.parametrize("path", ["/compute", "/compute/"])
def test_unversioned_discovery_lists_v21(api: Api, path: str) -> None:
    response = api.get(None, path)
    assert response.status_code == 200
    [version] = response.json()["versions"]
    assert version["id"] == "v2.1"
    assert version["version"] == "2.96"
    assert {"rel": "self", "href": SELF} in version["links"]


def test_no_header_gets_the_minimum(api: Api) -> None:
    response = api.get("demo", "/compute/v2.1/flavors")
    assert response.status_code == 200
    assert response.headers["OpenStack-API-Version"] == "compute 2.1"
    assert response.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert "OpenStack-API-Version" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("headers", "served"),
    [
        ({"OpenStack-API-Version": "compute 2.61"}, "2.61"),
        ({"X-OpenStack-Nova-API-Version": "2.60"}, "2.60"),
        ({"OpenStack-API-Version": "compute 2.61", "X-OpenStack-Nova-API-Version": "2.61"}, "2.61"),
        ({"OpenStack-API-Version": "image 2.5, compute 2.70"}, "2.70"),
        ({"OpenStack-API-Version": "compute latest"}, "2.96"),
        ({"OpenStack-API-Version": "compute 2.96"}, "2.96"),
    ],
)
def test_requested_version_is_echoed(api: Api, headers: dict[str, str], served: str) -> None:
    response = api.get("demo", "/compute/v2.1/flavors", headers=headers)
    assert response.status_code == 200
    assert response.headers["OpenStack-API-Version"] == f"compute {served}"
    assert response.headers["X-OpenStack-Nova-API-Version"] == served


@pytest.mark.parametrize("value", ["2.97", "2.200", "3.0", "2.0"])
def test_unsupported_version_is_406_in_novas_shape(api: Api, value: str) -> None:
    response = api.get("demo", "/compute/v2.1/flavors",
                       headers={"OpenStack-API-Version": f"compute {value}"})  # fmt: skip
    assert response.status_code == 406
    fault = response.json()["computeFault"]
    assert fault["code"] == 406
    assert fault["message"] == (
        f"Version {value} is not supported by the API. Minimum is 2.1 and maximum is 2.96."
    )


def test_malformed_version_is_400(api: Api) -> None:
    response = api.get("demo", "/compute/v2.1/flavors",
                       headers={"X-OpenStack-Nova-API-Version": "two"})  # fmt: skip
    assert response.status_code == 400
    assert "invalid format" in response.json()["badRequest"]["message"]


def test_errors_carry_the_version_headers_and_novas_shape(api: Api) -> None:
    response = api.get("demo", "/compute/v2.1/flavors/nope",
                       headers={"OpenStack-API-Version": "compute 2.61"})  # fmt: skip
    assert response.status_code == 404
    assert response.json()["itemNotFound"]["message"] == "Flavor nope could not be found."
    assert response.headers["OpenStack-API-Version"] == "compute 2.61"


def test_compute_calls_need_a_token(api: Api) -> None:
    response = api.get(None, "/compute/v2.1/flavors")
    assert response.status_code == 401
    assert "message" in response.json()["unauthorized"]
