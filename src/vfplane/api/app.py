"""The FastAPI application: one port, path-routed APIs, one fault table."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vfplane import __version__, logs
from vfplane.api import (
    compute,
    dashboard,
    hosts,
    identity,
    identity_admin,
    image,
    metrics,
    native,
    native_servers,
    network,
    ui,
)
from vfplane.api.compute.servers import boot_tools
from vfplane.api.deps import ApiDependencies
from vfplane.api.faults import install_fault_handlers
from vfplane.api.nul_guard import NulCharacters
from vfplane.db.pg_listener import PgListener
from vfplane.service import host_changes, orphans, server_actions, server_domains, token_cache
from vfplane.service.context import RequestContext

LOG = logging.getLogger(__name__)
ACCESS_LOG = logging.getLogger("vfplane.api.access")


SYSTEM = RequestContext(user_id="vfplane", project_id="", roles=frozenset({"admin", "service"}),
                        user_name="vfplane", request_id="req-build-timeout")  # fmt: skip
SWEEP_INTERVAL = 5.0
REQUEST_ID_HEADER = b"x-openstack-request-id"
FREEZE_AFTER_HOSTS = 1000


def expire_stuck_builds(deps: ApiDependencies) -> list[str]:
    """Servers stuck in BUILD past ``[compute] build_timeout`` go ERROR, everything given back;
    stops, starts and reboots past ``action_timeout`` end in Error. Returns the servers."""
    with deps.sessions() as session:
        timeout = deps.settings.compute.build_timeout
        tools, now = boot_tools(deps), deps.clock()
        expired = server_domains.expire_builds(session, SYSTEM, tools, now, timeout)
        action_timeout = deps.settings.compute.action_timeout
        return expired + server_actions.expire_actions(session, now, action_timeout)


def sweep_orphaned_devices(deps: ApiDependencies) -> list[orphans.Orphan]:
    """Free the PCI devices still held for servers that no longer exist (see ``orphans``)."""
    with deps.sessions() as session:
        return orphans.sweep_orphans(session)


async def _warm_host_view(deps: ApiDependencies) -> None:
    try:
        await run_in_threadpool(deps.host_view.warm, deps.sessions)
    except Exception:
        LOG.exception("reading the hosts for the scheduler failed; the first boot will read them")
        return
    if len(deps.host_view) >= FREEZE_AFTER_HOSTS:
        # Millions of long-lived objects: the cyclic collector would walk them all in every
        # full collection (pauses of 100 ms and more); freeze what exists now instead.
        gc.collect()
        gc.freeze()


async def _in_thread(running: set[asyncio.Task[Any]], work: Callable[[], object]) -> None:
    """``work`` in a worker thread, shielded: a cancelled sweep still ends its work there
    (and the app's shutdown waits for what is in ``running``)."""
    task = asyncio.ensure_future(run_in_threadpool(work))
    running.add(task)
    task.add_done_callback(running.discard)
    await asyncio.shield(task)


async def _sweep(deps: ApiDependencies, running: set[asyncio.Task[Any]]) -> None:
    """Orphaned devices are freed at startup and after every build-timeout sweep (which
    may leave some: a boot whose claim races the timeout)."""
    while True:
        try:
            await _in_thread(running, lambda: sweep_orphaned_devices(deps))
        except Exception:
            LOG.exception("the orphaned-device sweep failed; trying again later")
        await asyncio.sleep(SWEEP_INTERVAL)
        try:
            await _in_thread(running, lambda: expire_stuck_builds(deps))
        except Exception:
            LOG.exception("the build-timeout sweep failed; trying again later")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Read the hosts for the scheduler; sweep stuck builds; on PostgreSQL, other server
    processes' changes wake our waiters."""
    deps: ApiDependencies = app.state.deps
    running: set[asyncio.Task[Any]] = set()  # sweeps in worker threads
    sweeper = asyncio.create_task(_sweep(deps, running))
    warming = asyncio.create_task(_warm_host_view(deps))
    engine = deps.sessions.kw["bind"]
    listeners = []
    if engine.dialect.name == "postgresql":
        notifier, tokens = deps.notifier, deps.tokens
        listeners = [
            PgListener(engine, host_changes.CHANNEL,
                       lambda payload: notifier.publish(payload.split(","))),
            PgListener(engine, token_cache.CHANNEL, lambda _: tokens.clear(),
                       on_connect=tokens.clear),  # a notification missed while away
        ]  # fmt: skip
        for listener in listeners:
            listener.start()
    app.state.listeners = listeners
    try:
        yield
    finally:
        sweeper.cancel()
        warming.cancel()
        # A sweep already in a worker thread runs to its end: wait for it, or it could act
        # (with this app's clock) after the app is gone.
        await asyncio.gather(sweeper, warming, *running, return_exceptions=True)
        for listener in listeners:
            listener.stop()


class RequestIds:
    """Every request gets an id (``request.state.request_id``), answered in a header: the
    caller's ``X-OpenStack-Request-ID`` when it is a well-formed ``req-<uuid>`` (an agent
    reporting what a user's call asked for, a client tying its calls together), else a new one.
    Every line logged while serving the request carries it (``logs.log_context``).
    Plain ASGI: Starlette's ``BaseHTTPMiddleware`` runs each request in a task of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inbound = Headers(scope=scope).get(REQUEST_ID_HEADER.decode(), "")
        rid = inbound if logs.valid_request_id(inbound) else logs.new_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, rid.encode())]
                message = {**message, "headers": headers}
            await send(message)

        with logs.log_context(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                ACCESS_LOG.info("%s %s %s", scope["method"], scope["path"], status or "-",
                                extra={"method": scope["method"], "path": scope["path"],
                                       "status": status or None})  # fmt: skip


def create_app(deps: ApiDependencies, *, build_models: bool = True) -> FastAPI:
    """The ASGI app; ``build_models=False`` skips the warm-up below (single-threaded tests)."""
    host_changes.install(deps.sessions, deps.notifier)
    deps.tokens.install(deps.sessions)
    app = FastAPI(
        lifespan=_lifespan,
        title="vfplane",
        version=__version__,
        description="SR-IOV network control plane: Keystone v3, Neutron v2.0, Nova v2.1 "
        "and Glance v2 compatible APIs, and the native /v1 API.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.deps = deps
    install_fault_handlers(app)
    app.include_router(identity.router)
    app.include_router(identity_admin.router)
    app.include_router(network.router)
    app.include_router(native.router)
    app.include_router(hosts.router)
    app.include_router(compute.router)
    app.include_router(image.router)
    app.include_router(native_servers.router)
    app.include_router(dashboard.router)
    app.include_router(ui.router)
    app.include_router(metrics.router)

    app.add_middleware(NulCharacters)
    app.add_middleware(RequestIds)

    # FastAPI builds each route's request models lazily on first use, and building them from
    # several threads at once can fail; building the OpenAPI document builds them all now.
    if build_models:
        app.openapi()
    return app
