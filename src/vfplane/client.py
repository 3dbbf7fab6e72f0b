"""A small client of the vfplane API for agents and CLI commands: a token, one retry on 401."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import httpx

from vfplane.errors import VfplaneError

REQUEST_ID_HEADER = "X-OpenStack-Request-ID"


class ApiCallError(VfplaneError):
    """The server answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})" if status else message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    project_name: str
    user_domain: str = "Default"
    project_domain: str = "Default"


def error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        if body.get("message"):
            return str(body["message"])
    return response.reason_phrase


class ApiClient:
    def __init__(self, base_url: str, credentials: Credentials, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def _authenticate(self) -> str:
        c = self._credentials
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain}, "password": c.password}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain}}},
        }}  # fmt: skip
        response = self._send("POST", "/identity/v3/auth/tokens", json=body)
        if response.status_code != 201:
            raise ApiCallError(response.status_code, f"cannot log in as {c.username}: "
                               f"{error_message(response)}")  # fmt: skip
        return response.headers["X-Subject-Token"]

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiCallError(0, f"cannot reach {self.base_url}: {exc}") from exc

    def token(self, renew: bool = False) -> str:
        with self._lock:
            if self._token is None or renew:
                self._token = self._authenticate()
            return self._token

    def call(
        self, method: str, path: str, *, timeout: float | None = None,
        request_id: str | None = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        """The JSON answer of ``method path``; a 401 renews the token once. ``request_id``
        (a ``req-<uuid>``) is sent as ``X-OpenStack-Request-ID``: the server serves the call
        under that id, so its log lines join those of the call that asked for it."""
        extra = {"timeout": timeout} if timeout is not None else {}
        given = dict(kwargs.pop("headers", None) or {})
        if request_id:
            given[REQUEST_ID_HEADER] = request_id
        for attempt in range(2):
            headers = {**given, "X-Auth-Token": self.token(renew=attempt > 0)}
            response = self._send(method, path, headers=headers, **extra, **kwargs)
            if response.status_code != 401:
                break
        if response.status_code >= 400:
            raise ApiCallError(response.status_code, error_message(response))
        return response.json() if response.content else None
