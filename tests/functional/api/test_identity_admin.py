"""Admins manage projects, users and role assignments; nobody else can."""

from __future__ import annotations

from tests.functional.api.conftest import Api

V3 = "/identity/v3"


def _token(api: Api, user: str, password: str, project: str) -> int:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}  # fmt: skip
    return api.post(None, f"{V3}/auth/tokens", body).status_code


def test_new_tenant_end_to_end(api: Api) -> None:
    project = api.post("admin", f"{V3}/projects", {"project": {"name": "acme"}})
    assert project.status_code == 201
    project_id = project.json()["project"]["id"]
    body = {"user": {"name": "alice", "password": "wonderland", "default_project_id": project_id}}
    user_id = api.post("admin", f"{V3}/users", body).json()["user"]["id"]
    assert _token(api, "alice", "wonderland", "acme") == 401  # no role yet
    member = api.get("admin", f"{V3}/roles?name=member").json()["roles"][0]["id"]
    path = f"{V3}/projects/{project_id}/users/{user_id}/roles/{member}"
    assert api.put("admin", path).status_code == 204
    assert _token(api, "alice", "wonderland", "acme") == 201
    assignments = api.get("admin", f"{V3}/role_assignments?user.id={user_id}").json()
    assert assignments["role_assignments"][0]["role"]["id"] == member
    assert api.delete("admin", path).status_code == 204
    assert _token(api, "alice", "wonderland", "acme") == 401


def test_lookups_by_name_and_id(api: Api) -> None:
    projects = api.get("admin", f"{V3}/projects?name=demo").json()["projects"]
    assert [p["name"] for p in projects] == ["demo"]
    assert api.get("admin", f"{V3}/projects/{projects[0]['id']}").status_code == 200
    assert api.get("admin", f"{V3}/projects/demo").status_code == 404
    users = api.get("admin", f"{V3}/users?name=demo").json()["users"]
    assert api.get("admin", f"{V3}/users/{users[0]['id']}").json()["user"]["name"] == "demo"


def test_members_cannot_administer(api: Api) -> None:
    assert api.post("demo", f"{V3}/projects", {"project": {"name": "x"}}).status_code == 403
    body = {"user": {"name": "mallory", "password": "password1"}}
    assert api.post("demo", f"{V3}/users", body).status_code == 403
    admin_project = api.project_of("admin")
    assert api.get("demo", f"{V3}/projects/{admin_project}").status_code == 404


def test_duplicates_and_weak_passwords(api: Api) -> None:
    assert api.post("admin", f"{V3}/projects", {"project": {"name": "demo"}}).status_code == 409
    weak = api.post("admin", f"{V3}/users", {"user": {"name": "bob", "password": "short"}})
    assert weak.status_code == 400
    assert "user.password" in weak.json()["error"]["message"]
    no_name = api.post("admin", f"{V3}/users", {"user": {"password": "long enough"}})
    assert no_name.status_code == 400
    assert "user.name" in no_name.json()["error"]["message"]


def test_password_change_revokes_tokens(api: Api) -> None:
    body = {"user": {"name": "carol", "password": "first-pass"}}
    user_id = api.post("admin", f"{V3}/users", body).json()["user"]["id"]
    demo_project = api.project_of("demo")
    member = api.get("admin", f"{V3}/roles?name=member").json()["roles"][0]["id"]
    api.put("admin", f"{V3}/projects/{demo_project}/users/{user_id}/roles/{member}")
    auth = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "carol", "password": "first-pass"}}},
        "scope": {"project": {"id": demo_project}}}}  # fmt: skip
    token = api.post(None, f"{V3}/auth/tokens", auth).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    assert api.client.get("/network/v2.0/networks", headers=headers).status_code == 200
    change = {"user": {"password": "second-pass"}}
    assert api.call("admin", "PATCH", f"{V3}/users/{user_id}", json=change).status_code == 200
    assert api.client.get("/network/v2.0/networks", headers=headers).status_code == 401
    assert _token(api, "carol", "second-pass", "demo") == 201
