"""Keystone v3 as the OpenStack clients use it."""

from __future__ import annotations

from datetime import timedelta

from tests.functional.api.conftest import PASSWORD, Api

AUTH_PATH = "/identity/v3/auth/tokens"


def _password_body(user: str, project: str, password: str = PASSWORD) -> dict[str, object]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }


def test_version_discovery(api: Api) -> None:
    versioned = api.get(None, "/identity/v3")
    assert versioned.status_code == 200
    version = versioned.json()["version"]
    assert version["status"] == "stable"
    assert version["links"][0] == {"rel": "self", "href": "http://testserver/identity/v3/"}
    unversioned = api.get(None, "/identity")
    assert unversioned.status_code == 300
    assert unversioned.json()["versions"]["values"][0]["id"] == version["id"]


def test_password_token_with_catalog(api: Api) -> None:
    response = api.post(None, AUTH_PATH, _password_body("demo", "demo"))
    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    body = response.json()["token"]
    assert body["user"]["name"] == "demo"
    assert body["project"]["name"] == "demo"
    assert [r["name"] for r in body["roles"]] == ["member"]
    assert body["expires_at"].endswith("Z")
    services = {entry["type"]: entry["endpoints"][0] for entry in body["catalog"]}
    assert services["network"]["url"] == "http://testserver/network"
    assert services["identity"]["url"] == "http://testserver/identity/v3"
    assert services["compute"]["url"] == "http://testserver/compute/v2.1"
    assert services["image"]["url"] == "http://testserver/image"
    assert {e["interface"] for e in services.values()} == {"public"}
    assert api.client.get("/network/v2.0/networks", headers={"X-Auth-Token": token}).is_success


def test_scope_by_ids(api: Api) -> None:
    project_id = api.project_of("demo")
    body = _password_body("demo", "demo")
    body["auth"]["scope"] = {"project": {"id": project_id}}  # type: ignore[index]
    assert api.post(None, AUTH_PATH, body).status_code == 201


def test_wrong_password_or_project_is_401(api: Api) -> None:
    bad = api.post(None, AUTH_PATH, _password_body("demo", "demo", "wrong"))
    assert bad.status_code == 401
    assert bad.json()["error"]["message"] == "The request you have made requires authentication."
    no_access = api.post(None, AUTH_PATH, _password_body("demo", "admin"))
    assert no_access.status_code == 401
    missing = api.post(None, AUTH_PATH, _password_body("demo", "nope"))
    assert "Could not find project: nope" in missing.json()["error"]["message"]


def test_invalid_auth_body_is_400_naming_the_field(api: Api) -> None:
    response = api.post(None, AUTH_PATH, {"auth": {"identity": {}}})
    assert response.status_code == 400
    assert "auth.identity.methods" in response.json()["error"]["message"]


def test_requests_without_a_live_token_are_401(api: Api) -> None:
    assert api.get(None, "/network/v2.0/networks").status_code == 401
    bad = api.client.get("/network/v2.0/networks", headers={"X-Auth-Token": "forged"})
    assert bad.status_code == 401
    assert bad.json()["NeutronError"]["message"].startswith("The request you have made")


def test_expired_token_is_refused(api: Api) -> None:
    issued = api.post(None, AUTH_PATH, _password_body("demo", "demo")).headers["X-Subject-Token"]
    later = api.deps.clock() + timedelta(hours=2)
    api.deps.clock = lambda: later
    assert (
        api.client.get("/network/v2.0/networks", headers={"X-Auth-Token": issued}).status_code
        == 401
    )


def test_revoked_token_is_refused(api: Api) -> None:
    token = api.post(None, AUTH_PATH, _password_body("demo", "demo")).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert api.client.get(AUTH_PATH, headers=headers).status_code == 200
    assert api.client.delete(AUTH_PATH, headers=headers).status_code == 204
    assert (
        api.client.get("/network/v2.0/networks", headers={"X-Auth-Token": token}).status_code == 401
    )


def test_only_admins_list_users(api: Api) -> None:
    assert api.get("demo", "/identity/v3/users").status_code == 403
    names = {u["name"] for u in api.get("admin", "/identity/v3/users").json()["users"]}
    assert {"admin", "demo"} <= names
    own = api.get("demo", "/identity/v3/projects").json()["projects"]
    assert [p["name"] for p in own] == ["demo"]


def test_passwords_are_stored_hashed(api: Api) -> None:
    from sqlalchemy import select

    from vfplane.db.tables import User

    with api.deps.sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.name == "demo"))
    assert stored is not None
    assert PASSWORD not in stored
    assert stored.startswith("scrypt$")
