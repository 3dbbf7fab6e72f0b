"""``GET /metrics``: this server process's metrics in Prometheus's text exposition format.

Open by default, as Prometheus exporters are: it shows host, physnet and agent names, VF
counts and counters, no tenant's data. With ``[metrics] token`` set, a scrape must send
``Authorization: Bearer <token>`` (Prometheus: ``authorization: {credentials: <token>}`` in
the scrape config), else it gets 401. What each series means: ``service.metrics``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from vfplane.api.deps import Deps

router = APIRouter(tags=["metrics"])


def _authorized(expected: str, authorization: str | None) -> bool:
    scheme, _, credentials = (authorization or "").partition(" ")
    given = credentials.strip().encode()
    return scheme.lower() == "bearer" and secrets.compare_digest(given, expected.encode())


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(deps: Deps, authorization: Annotated[str | None, Header()] = None) -> Response:
    token = deps.settings.metrics.token
    if token is not None and not _authorized(token.get_secret_value(), authorization):
        return Response("a bearer token is required for /metrics\n", status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="vfplane metrics"'},
                        media_type="text/plain")  # fmt: skip
    return Response(generate_latest(deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)
