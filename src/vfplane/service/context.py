"""Who is asking: the request context every use case receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from vfplane.errors import Forbidden

ADMIN = "admin"
MEMBER = "member"
READER = "reader"
SERVICE = "service"
ROLES = (ADMIN, MEMBER, READER, SERVICE)


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    user_name: str = ""
    project_name: str = ""
    request_id: str = ""
    host_scope: str | None = None  # set for an agent's account: the one host it may act for
    token_expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_service(self) -> bool:
        return SERVICE in self.roles

    @property
    def is_admin_or_service(self) -> bool:
        return self.is_admin or self.is_service

    @property
    def can_write(self) -> bool:
        return bool(self.roles & {ADMIN, MEMBER, SERVICE})

    def owns(self, project_id: str) -> bool:
        return self.is_admin_or_service or project_id == self.project_id

    def require_admin(self, action: str) -> None:
        if not self.is_admin:
            raise Forbidden(f"{action} is allowed for admins only", kind="PolicyNotAuthorized")

    def require_admin_or_service(self, action: str) -> None:
        if not self.is_admin_or_service:
            raise Forbidden(
                f"{action} is allowed for admins and services only", kind="PolicyNotAuthorized"
            )

    def require_host(self, host: str, action: str) -> None:
        """Admins and unscoped services may act for any host; an agent for its own only."""
        if self.is_admin or (self.is_service and self.host_scope in (None, host)):
            return
        if self.is_service:
            raise Forbidden(
                f"{action}: these credentials belong to the agent of host {self.host_scope}, "
                f"not {host}",
                kind="PolicyNotAuthorized",
            )
        raise Forbidden(f"{action} is allowed for admins and host agents only",
                        kind="PolicyNotAuthorized")  # fmt: skip

    def require_write(self, action: str) -> None:
        if not self.can_write:
            raise Forbidden(
                f"{action} needs the member role; readers may only look", kind="PolicyNotAuthorized"
            )
