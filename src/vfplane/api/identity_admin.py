"""Keystone v3 administration: projects, users, roles and role assignments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vfplane.api.deps import Caller, Db
from vfplane.db.tables import Project, Role, RoleAssignment, User
from vfplane.service import accounts

router = APIRouter(prefix="/identity/v3", tags=["identity: administration"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ProjectCreate(_Body):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    enabled: bool = True
    domain_id: str | None = None


class ProjectCreateBody(BaseModel):
    project: ProjectCreate


class UserCreate(_Body):
    name: str = Field(min_length=1, max_length=255)
    password: str | None = None
    default_project_id: str | None = None
    enabled: bool = True
    domain_id: str | None = None


class UserCreateBody(BaseModel):
    user: UserCreate


class UserUpdate(_Body):
    password: str | None = None
    enabled: bool | None = None


class UserUpdateBody(BaseModel):
    user: UserUpdate


def _links(request: Request) -> dict[str, Any]:
    return {"self": str(request.url), "next": None, "previous": None}


def render_project(project: Project) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "description": project.description,
            "enabled": project.enabled, "domain_id": project.domain_id, "is_domain": False,
            "parent_id": project.domain_id, "tags": [], "options": {}}  # fmt: skip


def render_user(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "enabled": user.enabled,
            "domain_id": user.domain_id, "default_project_id": user.default_project_id,
            "password_expires_at": None, "options": {}}  # fmt: skip


def _named(request: Request, rows: list[Any]) -> list[Any]:
    name = request.query_params.get("name")
    return [r for r in rows if name is None or r.name == name]


@router.get("/projects", summary="Projects (all for admins, your own otherwise)")
def list_projects(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    query = select(Project).order_by(Project.name)
    if not caller.is_admin:
        query = query.where(Project.id == caller.project_id)
    projects = _named(request, list(session.scalars(query)))
    return {"projects": [render_project(p) for p in projects], "links": _links(request)}


@router.get("/projects/{project_id}", summary="Show a project")
def show_project(project_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    return {"project": render_project(accounts.get_project(session, caller, project_id))}


@router.post("/projects", status_code=201, summary="Create a project (admins)")
def create_project(body: ProjectCreateBody, caller: Caller, session: Db) -> dict[str, Any]:
    given = body.project
    project = accounts.create_project(session, caller, given.name, given.description,
                                      given.enabled, given.domain_id)  # fmt: skip
    return {"project": render_project(project)}


@router.delete("/projects/{project_id}", status_code=204, summary="Delete a project (admins)")
def delete_project(project_id: str, caller: Caller, session: Db) -> Response:
    accounts.delete_project(session, caller, project_id)
    return Response(status_code=204)


@router.get("/users", summary="Users (admins only)")
def list_users(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    caller.require_admin("Listing users")
    users = _named(request, list(session.scalars(select(User).order_by(User.name))))
    return {"users": [render_user(u) for u in users], "links": _links(request)}


@router.get("/users/{user_id}", summary="Show a user")
def show_user(user_id: str, caller: Caller, session: Db) -> dict[str, Any]:
    return {"user": render_user(accounts.get_user(session, caller, user_id))}


@router.post("/users", status_code=201, summary="Create a user (admins)")
def create_user(body: UserCreateBody, caller: Caller, session: Db) -> dict[str, Any]:
    given = body.user
    request = accounts.UserRequest(given.name, given.password, given.default_project_id,
                                   given.enabled, given.domain_id)  # fmt: skip
    return {"user": render_user(accounts.create_user(session, caller, request))}


@router.patch("/users/{user_id}", summary="Change a user's password or enabled flag (admins)")
def update_user(user_id: str, body: UserUpdateBody, caller: Caller, session: Db) -> dict[str, Any]:
    user = accounts.update_user(session, caller, user_id, body.user.password, body.user.enabled)
    return {"user": render_user(user)}


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user (admins)")
def delete_user(user_id: str, caller: Caller, session: Db) -> Response:
    accounts.delete_user(session, caller, user_id)
    return Response(status_code=204)


@router.get("/roles", summary="Roles")
def list_roles(request: Request, _caller: Caller, session: Db) -> dict[str, Any]:
    roles = _named(request, list(session.scalars(select(Role).order_by(Role.name))))
    return {"roles": [{"id": r.id, "name": r.name, "domain_id": None} for r in roles],
            "links": _links(request)}  # fmt: skip


@router.get("/roles/{role_id}", summary="Show a role")
def show_role(role_id: str, _caller: Caller, session: Db) -> dict[str, Any]:
    role = accounts.get_role(session, role_id)
    return {"role": {"id": role.id, "name": role.name, "domain_id": None}}


ASSIGNMENT = "/projects/{project_id}/users/{user_id}/roles/{role_id}"


@router.put(ASSIGNMENT, status_code=204, summary="Grant a role on a project (admins)")
def grant_role(
    project_id: str, user_id: str, role_id: str, caller: Caller, session: Db
) -> Response:
    accounts.grant_role(session, caller, project_id, user_id, role_id)
    return Response(status_code=204)


@router.delete(ASSIGNMENT, status_code=204, summary="Revoke a role on a project (admins)")
def revoke_role(
    project_id: str, user_id: str, role_id: str, caller: Caller, session: Db
) -> Response:
    accounts.revoke_role(session, caller, project_id, user_id, role_id)
    return Response(status_code=204)


@router.get("/role_assignments", summary="Role assignments")
def list_role_assignments(request: Request, caller: Caller, session: Db) -> dict[str, Any]:
    params = request.query_params
    rows: list[RoleAssignment] = accounts.list_assignments(
        session, caller, params.get("user.id"), params.get("scope.project.id")
    )
    return {
        "role_assignments": [
            {"user": {"id": a.user_id}, "role": {"id": a.role_id},
             "scope": {"project": {"id": a.project_id}}}
            for a in rows
        ],
        "links": _links(request),
    }  # fmt: skip
