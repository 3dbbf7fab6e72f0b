"""Keystone v3, as the OpenStack clients use it: discovery, tokens, a catalog."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from vfplane.api.deps import Caller, Db, Deps
from vfplane.errors import InvalidInput, Unauthorized
from vfplane.service import identity
from vfplane.service.identity import DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, IssuedToken

router = APIRouter(prefix="/identity", tags=["identity"])

VERSION_ID = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPE = {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DomainRef(_Loose):
    id: str | None = None
    name: str | None = None


class UserRef(_Loose):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None
    password: str


class PasswordMethod(_Loose):
    user: UserRef


class AuthIdentity(_Loose):
    methods: list[str]
    password: PasswordMethod | None = None


class ProjectRef(_Loose):
    id: str | None = None
    name: str | None = None
    domain: DomainRef | None = None


class AuthScope(_Loose):
    project: ProjectRef | None = None


class AuthRequest(_Loose):
    identity: AuthIdentity
    scope: AuthScope | None = None


class AuthBody(_Loose):
    auth: AuthRequest


def subject_token(request: Request) -> str:
    """The ``X-Subject-Token`` header: the token a validation or revocation is about."""
    token = request.headers.get("X-Subject-Token")
    if not token:
        raise InvalidInput("Invalid input for X-Subject-Token: the header is required")
    return token


SubjectToken = Annotated[str, Depends(subject_token)]


def _version(base: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [MEDIA_TYPE],
    }


@router.get("", summary="Identity API versions")
@router.get("/", include_in_schema=False)
def versions(deps: Deps) -> JSONResponse:
    body = {"versions": {"values": [_version(deps.public_base)]}}
    return JSONResponse(body, status_code=300)


@router.get("/v3", summary="Identity v3 version document")
@router.get("/v3/", include_in_schema=False)
def version(deps: Deps) -> dict[str, Any]:
    return {"version": _version(deps.public_base)}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def catalog(base: str, region: str) -> list[dict[str, Any]]:
    services = [
        ("identity", "keystone", f"{base}/identity/v3"),
        ("network", "neutron", f"{base}/network"),
        ("compute", "nova", f"{base}/compute/v2.1"),
        ("image", "glance", f"{base}/image"),
    ]
    return [
        {
            "type": kind,
            "name": name,
            "id": kind,
            "endpoints": [
                {
                    "id": f"{kind}-public",
                    "interface": "public",
                    "region_id": region,
                    "region": region,
                    "url": url,
                }
            ],
        }
        for kind, name, url in services
    ]


def _domain() -> dict[str, str]:
    return {"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME}


def token_body(issued: IssuedToken, base: str, region: str) -> dict[str, Any]:
    return {
        "token": {
            "methods": ["password"],
            "expires_at": _iso(issued.record.expires_at),
            "issued_at": _iso(issued.record.issued_at),
            "audit_ids": [issued.record.audit_id],
            "user": {"id": issued.user.id, "name": issued.user.name, "domain": _domain()},
            "project": {"id": issued.project.id, "name": issued.project.name, "domain": _domain()},
            "roles": [{"id": r.id, "name": r.name} for r in issued.roles],
            "catalog": catalog(base, region),
        }
    }


def _password_auth(body: AuthBody) -> identity.PasswordAuth:
    method = body.auth.identity.password
    if "password" not in body.auth.identity.methods or method is None:
        methods = ", ".join(body.auth.identity.methods) or "none"
        raise Unauthorized(f"Unsupported authentication method(s): {methods}; use password.")
    user = method.user
    project = body.auth.scope.project if body.auth.scope else None
    return identity.PasswordAuth(
        password=user.password,
        user_id=user.id,
        user_name=user.name,
        user_domain=(user.domain.id or user.domain.name) if user.domain else None,
        project_id=project.id if project else None,
        project_name=project.name if project else None,
        project_domain=(project.domain.id or project.domain.name)
        if project and project.domain
        else None,
    )


@router.post("/v3/auth/tokens", status_code=201, summary="Issue a token (password method)")
def issue_token(body: AuthBody, deps: Deps, session: Db) -> JSONResponse:
    lifetime = timedelta(seconds=deps.settings.identity.token_lifetime)
    issued = identity.authenticate(session, _password_auth(body), deps.clock(), lifetime)
    region = deps.settings.identity.region
    return JSONResponse(
        token_body(issued, deps.public_base, region),
        status_code=201,
        headers={"X-Subject-Token": issued.token},
    )


@router.get("/v3/auth/tokens", summary="Validate a token")
def check_token(
    _caller: Caller,
    deps: Deps,
    session: Db,
    x_subject_token: SubjectToken,
) -> JSONResponse:
    issued = identity.describe_token(session, x_subject_token, deps.clock())
    return JSONResponse(
        token_body(issued, deps.public_base, deps.settings.identity.region),
        headers={"X-Subject-Token": x_subject_token},
    )


@router.delete("/v3/auth/tokens", status_code=204, summary="Revoke a token")
def revoke(caller: Caller, session: Db, x_subject_token: SubjectToken) -> Response:
    if identity.token_owner(session, x_subject_token) != caller.user_id:
        caller.require_admin("Revoking another user's token")
    identity.revoke_token(session, x_subject_token)
    return Response(status_code=204)


@router.get("/v3/auth/catalog", summary="The service catalog")
def get_catalog(_caller: Caller, deps: Deps) -> dict[str, Any]:
    return {"catalog": catalog(deps.public_base, deps.settings.identity.region)}
