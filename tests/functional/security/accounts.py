"""A throw-away member account per test: the shared test users' tokens must stay valid."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.functional.api.conftest import Api

V3 = "/identity/v3"
TOKENS = f"{V3}/auth/tokens"


@dataclass(frozen=True)
class Account:
    name: str
    user_id: str
    password: str
    project: str = "demo"


def new_member(api: Api) -> Account:
    """A new user with the member role on the demo project, created through the API."""
    name, password = f"user-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    project_id = api.project_of("demo")
    body = {"user": {"name": name, "password": password, "default_project_id": project_id}}
    created = api.post("admin", f"{V3}/users", body)
    assert created.status_code == 201, created.text
    user_id = str(created.json()["user"]["id"])
    member = api.get("admin", f"{V3}/roles?name=member").json()["roles"][0]["id"]
    grant = api.put("admin", f"{V3}/projects/{project_id}/users/{user_id}/roles/{member}")
    assert grant.status_code == 204, grant.text
    return Account(name, user_id, password)


def login(api: Api, account: Account) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": account.name, "domain": {"id": "default"}, "password": account.password}}},
        "scope": {"project": {"name": account.project, "domain": {"id": "default"}}}}}  # fmt: skip
    response = api.post(None, TOKENS, body)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]
