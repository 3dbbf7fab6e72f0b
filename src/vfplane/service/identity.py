"""Identity use cases: authenticate, validate and revoke tokens, bootstrap accounts."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vfplane.db.tables import Project, Role, RoleAssignment, Token, User
from vfplane.errors import NotFound, Unauthorized
from vfplane.service.context import ADMIN, MEMBER, ROLES, SERVICE, RequestContext
from vfplane.service.passwords import hash_password, verify_password

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
AUTH_REQUIRED = "The request you have made requires authentication."


@dataclass(frozen=True)
class PasswordAuth:
    """What a password-method ``POST /auth/tokens`` asks for."""

    password: str
    user_id: str | None = None
    user_name: str | None = None
    user_domain: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: Token
    user: User
    project: Project
    roles: list[Role]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_domain(domain: str | None, what: str) -> None:
    if domain not in (None, DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME):
        raise Unauthorized(f"Could not find domain: {domain} (for the {what}).")


def _find_user(session: Session, auth: PasswordAuth) -> User:
    _check_domain(auth.user_domain, "user")
    if auth.user_id:
        user = session.get(User, auth.user_id)
    else:
        user = session.scalar(select(User).where(User.name == (auth.user_name or "")))
    if user is None or not user.enabled or not verify_password(auth.password, user.password_hash):
        raise Unauthorized(AUTH_REQUIRED)
    return user


def _find_project(session: Session, auth: PasswordAuth, user: User) -> Project:
    _check_domain(auth.project_domain, "project")
    if auth.project_id:
        project = session.get(Project, auth.project_id)
    elif auth.project_name:
        project = session.scalar(select(Project).where(Project.name == auth.project_name))
    elif user.default_project_id:
        project = session.get(Project, user.default_project_id)
    else:
        raise Unauthorized("Unscoped tokens are not supported; scope the token to a project.")
    if project is None or not project.enabled:
        wanted = auth.project_id or auth.project_name or user.default_project_id
        raise Unauthorized(f"Could not find project: {wanted}.")
    return project


def roles_on_project(session: Session, user_id: str, project_id: str) -> list[Role]:
    query = (
        select(Role)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        .order_by(Role.name)
    )
    return list(session.scalars(query))


def authenticate(
    session: Session, auth: PasswordAuth, now: datetime, lifetime: timedelta
) -> IssuedToken:
    """Check the password and issue a project-scoped token; only its digest is stored."""
    user = _find_user(session, auth)
    project = _find_project(session, auth, user)
    roles = roles_on_project(session, user.id, project.id)
    if not roles:
        raise Unauthorized(f"User {user.id} has no access to project {project.id}.")
    token = secrets.token_urlsafe(32)
    record = Token(
        digest=token_digest(token),
        user_id=user.id,
        project_id=project.id,
        audit_id=secrets.token_urlsafe(16)[:22],
        issued_at=now,
        expires_at=now + lifetime,
        revoked=False,
    )
    session.add(record)
    session.commit()
    return IssuedToken(token, record, user, project, roles)


def validate_token(session: Session, token: str, now: datetime) -> RequestContext:
    """The context of a live token; 401 when it is unknown, expired or revoked."""
    record = session.get(Token, token_digest(token)) if token else None
    if record is None or record.revoked or record.expires_at <= now:
        raise Unauthorized(AUTH_REQUIRED)
    user = session.get(User, record.user_id)
    project = session.get(Project, record.project_id)
    if user is None or project is None or not user.enabled or not project.enabled:
        raise Unauthorized(AUTH_REQUIRED)
    roles = roles_on_project(session, user.id, project.id)
    if not roles:
        raise Unauthorized(AUTH_REQUIRED)
    return RequestContext(
        user_id=user.id,
        project_id=project.id,
        roles=frozenset(r.name for r in roles),
        user_name=user.name,
        project_name=project.name,
        host_scope=user.host,
        token_expires_at=record.expires_at,
    )


def describe_token(session: Session, token: str, now: datetime) -> IssuedToken:
    record = session.get(Token, token_digest(token))
    if record is None or record.revoked or record.expires_at <= now:
        raise NotFound(f"Could not find token: {token[:8]}….")
    user = session.get(User, record.user_id)
    project = session.get(Project, record.project_id)
    if user is None or project is None:
        raise NotFound("Could not find token.")
    return IssuedToken(token, record, user, project, roles_on_project(session, user.id, project.id))


def token_owner(session: Session, token: str) -> str:
    record = session.get(Token, token_digest(token))
    if record is None:
        raise NotFound("Could not find token.")
    return record.user_id


def revoke_token(session: Session, token: str) -> None:
    record = session.get(Token, token_digest(token))
    if record is None or record.revoked:
        raise NotFound(f"Could not find token: {token[:8]}….")
    record.revoked = True
    session.commit()


# --- accounts ---------------------------------------------------------------


def ensure_role(session: Session, name: str) -> Role:
    role = session.scalar(select(Role).where(Role.name == name))
    if role is None:
        role = Role(id=uuid.uuid4().hex, name=name)
        session.add(role)
        session.flush()
    return role


def ensure_project(session: Session, name: str, description: str = "") -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        project = Project(
            id=uuid.uuid4().hex, name=name, description=description, domain_id=DEFAULT_DOMAIN_ID
        )
        session.add(project)
        session.flush()
    return project


def ensure_user(session: Session, name: str, password: str, project: Project) -> User:
    """Create the user, or reset its password when it exists."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(id=uuid.uuid4().hex, name=name, domain_id=DEFAULT_DOMAIN_ID, enabled=True)
        session.add(user)
    user.password_hash = hash_password(password)
    user.default_project_id = project.id
    session.flush()
    return user


def grant(session: Session, user: User, project: Project, role: Role) -> None:
    key = {"user_id": user.id, "project_id": project.id, "role_id": role.id}
    if session.get(RoleAssignment, key) is None:
        session.add(RoleAssignment(**key))
        session.flush()


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    project: str


def bootstrap_accounts(
    session: Session, admin_password: str, demo_password: str
) -> tuple[Account, Account]:
    """Roles, the admin and demo projects and users; safe to run again."""
    roles = {name: ensure_role(session, name) for name in ROLES}
    admin_project = ensure_project(session, "admin", "Cloud administration")
    demo_project = ensure_project(session, "demo", "A project for a first user")
    ensure_project(session, SERVICE, "Agents and other services")
    admin = ensure_user(session, "admin", admin_password, admin_project)
    grant(session, admin, admin_project, roles[ADMIN])
    grant(session, admin, admin_project, roles[MEMBER])
    grant(session, admin, demo_project, roles[ADMIN])
    demo = ensure_user(session, "demo", demo_password, demo_project)
    grant(session, demo, demo_project, roles[MEMBER])
    session.commit()
    return Account("admin", admin_password, "admin"), Account("demo", demo_password, "demo")
