"""Nova microversions: what a request asks for, what the response says it got.

Every ``/compute`` router uses :class:`ComputeRoute`, which reads
``OpenStack-API-Version: compute 2.NN`` (or the legacy
``X-OpenStack-Nova-API-Version: 2.NN``), answers 400 for a malformed value and
406 for one outside [``MIN_VERSION``, ``MAX_VERSION``], and echoes the version
served in both headers plus ``Vary``. Handlers receive it as a parameter::

    @router.get("/servers/{server_id}")
    def show(server_id: str, version: Microversion) -> dict[str, Any]:
        if version >= APIVersion(2, 47): ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from vfplane.api.faults import error_response, validation_message
from vfplane.errors import ApiError, InvalidInput

NEW_HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
SERVICE_TYPE = "compute"
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class VersionNotAcceptable(ApiError):
    """406: a microversion this server does not serve."""

    status = 406


@dataclass(frozen=True, order=True)
class APIVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @classmethod
    def parse(cls, text: str) -> APIVersion:
        match = _VERSION_RE.match(text.strip())
        if match is None:
            raise InvalidInput(
                f"API Version String {text} is of invalid format. Must be of format "
                "MajorNum.MinorNum."
            )
        return cls(int(match.group(1)), int(match.group(2)))


MIN_VERSION = APIVersion(2, 1)
MAX_VERSION = APIVersion(2, 96)


def _header_value(headers: Mapping[str, str]) -> str | None:
    """The compute entry of the new header, else the legacy header, else None."""
    new = headers.get(NEW_HEADER)
    if new:
        for entry in new.split(","):
            parts = entry.split()
            if len(parts) == 2 and parts[0].lower() == SERVICE_TYPE:
                return parts[1]
    return headers.get(LEGACY_HEADER) or None


def requested_version(headers: Mapping[str, str]) -> APIVersion:
    """The microversion a request asks for: the minimum when it names none."""
    value = _header_value(headers)
    if value is None:
        return MIN_VERSION
    if value.strip().lower() == "latest":
        return MAX_VERSION
    version = APIVersion.parse(value)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotAcceptable(
            f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} and "
            f"maximum is {MAX_VERSION}.",
            kind="VersionNotFoundForAPIMethod",
        )
    return version


def set_version_headers(response: Response, version: APIVersion) -> None:
    response.headers[NEW_HEADER] = f"{SERVICE_TYPE} {version}"
    response.headers[LEGACY_HEADER] = str(version)
    response.headers["Vary"] = f"{NEW_HEADER}, {LEGACY_HEADER}"


class ComputeRoute(APIRoute):
    """A route that negotiates the microversion before its handler runs.

    Faults raised by the handler are rendered here too, so that error responses
    carry the version headers as well.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def negotiated(request: Request) -> Response:
            response: Response
            try:
                version = requested_version(request.headers)
            except ApiError as exc:
                response = error_response(request, exc.status, exc.kind, str(exc))
                set_version_headers(response, MIN_VERSION)
                return response
            request.state.compute_version = version
            try:
                response = await handler(request)
            except ApiError as exc:
                response = error_response(request, exc.status, exc.kind, str(exc))
            except RequestValidationError as exc:
                response = error_response(request, 400, "HTTPBadRequest", validation_message(exc))
            set_version_headers(response, version)
            return response

        return negotiated


def compute_version(request: Request) -> APIVersion:
    """The negotiated microversion; the minimum outside a :class:`ComputeRoute`."""
    version = getattr(request.state, "compute_version", None)
    return version if isinstance(version, APIVersion) else MIN_VERSION


Microversion = Annotated[APIVersion, Depends(compute_version)]
