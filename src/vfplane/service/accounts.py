"""Account administration: projects, users and role assignments (admins only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vfplane.db.tables import Project, Role, RoleAssignment, Token, User
from vfplane.errors import Conflict, Forbidden, InvalidInput, NotFound
from vfplane.service.context import RequestContext
from vfplane.service.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME
from vfplane.service.passwords import hash_password

MIN_PASSWORD_LENGTH = 8


def _check_domain(domain_id: str | None) -> None:
    if domain_id not in (None, DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME):
        raise InvalidInput(f"Invalid input for domain_id: only the '{DEFAULT_DOMAIN_ID}' domain "
                           "exists")  # fmt: skip


def _commit_unique(session: Session, what: str, name: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"Conflict occurred attempting to store {what} - Duplicate entry "
                       f"'{name}'.", kind="Conflict") from None  # fmt: skip


def get_project(session: Session, context: RequestContext, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None or not (context.is_admin or project.id == context.project_id):
        raise NotFound(f"Could not find project: {project_id}.", kind="ProjectNotFound")
    return project


def create_project(
    session: Session, context: RequestContext, name: str, description: str, enabled: bool,
    domain_id: str | None = None,
) -> Project:  # fmt: skip
    context.require_admin("Creating a project")
    _check_domain(domain_id)
    project = Project(id=uuid.uuid4().hex, name=name, description=description, enabled=enabled,
                      domain_id=DEFAULT_DOMAIN_ID)  # fmt: skip
    session.add(project)
    _commit_unique(session, "a project", name)
    return project


def delete_project(session: Session, context: RequestContext, project_id: str) -> None:
    context.require_admin("Deleting a project")
    project = get_project(session, context, project_id)
    if project.id == context.project_id:
        raise Forbidden("You cannot delete the project your token is scoped to",
                        kind="PolicyNotAuthorized")  # fmt: skip
    session.delete(project)
    session.commit()


def get_user(session: Session, context: RequestContext, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or not (context.is_admin or user.id == context.user_id):
        raise NotFound(f"Could not find user: {user_id}.", kind="UserNotFound")
    return user


@dataclass(frozen=True)
class UserRequest:
    name: str
    password: str | None = None
    default_project_id: str | None = None
    enabled: bool = True
    domain_id: str | None = None


def _check_password(password: str | None) -> str:
    if password is None or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"Invalid input for user.password: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    return hash_password(password)


def create_user(session: Session, context: RequestContext, request: UserRequest) -> User:
    context.require_admin("Creating a user")
    _check_domain(request.domain_id)
    if request.default_project_id is not None:
        get_project(session, context, request.default_project_id)
    user = User(id=uuid.uuid4().hex, name=request.name, domain_id=DEFAULT_DOMAIN_ID,
                password_hash=_check_password(request.password), enabled=request.enabled,
                default_project_id=request.default_project_id)  # fmt: skip
    session.add(user)
    _commit_unique(session, "a user", request.name)
    return user


def update_user(
    session: Session, context: RequestContext, user_id: str, password: str | None,
    enabled: bool | None,
) -> User:  # fmt: skip
    context.require_admin("Changing a user")
    user = get_user(session, context, user_id)
    if password is not None:
        user.password_hash = _check_password(password)
    if enabled is not None:
        user.enabled = enabled
    if password is not None or enabled is False:
        for token in session.scalars(select(Token).where(Token.user_id == user.id)):
            token.revoked = True
    session.commit()
    return user


def delete_user(session: Session, context: RequestContext, user_id: str) -> None:
    context.require_admin("Deleting a user")
    user = get_user(session, context, user_id)
    if user.id == context.user_id:
        raise Forbidden("You cannot delete yourself", kind="PolicyNotAuthorized")
    session.delete(user)
    session.commit()


def get_role(session: Session, role_id: str) -> Role:
    role = session.get(Role, role_id)
    if role is None:
        raise NotFound(f"Could not find role: {role_id}.", kind="RoleNotFound")
    return role


def _assignment(
    session: Session, context: RequestContext, project_id: str, user_id: str, role_id: str
) -> dict[str, str]:
    context.require_admin("Changing role assignments")
    project = get_project(session, context, project_id)
    user = get_user(session, context, user_id)
    role = get_role(session, role_id)
    return {"user_id": user.id, "project_id": project.id, "role_id": role.id}


def grant_role(
    session: Session, context: RequestContext, project_id: str, user_id: str, role_id: str
) -> None:
    key = _assignment(session, context, project_id, user_id, role_id)
    if session.get(RoleAssignment, key) is None:
        session.add(RoleAssignment(**key))
        session.commit()


def revoke_role(
    session: Session, context: RequestContext, project_id: str, user_id: str, role_id: str
) -> None:
    key = _assignment(session, context, project_id, user_id, role_id)
    assignment = session.get(RoleAssignment, key)
    if assignment is None:
        raise NotFound(f"Could not find role assignment of {role_id} to {user_id} on "
                       f"{project_id}.")  # fmt: skip
    session.delete(assignment)
    session.commit()


def list_assignments(
    session: Session, context: RequestContext, user_id: str | None, project_id: str | None
) -> list[RoleAssignment]:
    query = select(RoleAssignment)
    if not context.is_admin:
        query = query.where(RoleAssignment.user_id == context.user_id)
    if user_id:
        query = query.where(RoleAssignment.user_id == user_id)
    if project_id:
        query = query.where(RoleAssignment.project_id == project_id)
    return list(session.scalars(query))
