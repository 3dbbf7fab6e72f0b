"""What request handlers receive: the database, settings, the clock, the caller."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from vfplane.binding.manager import BindingManager
from vfplane.db.engine import SessionFactory, close_session
from vfplane.domain.alias import Alias, parse_aliases
from vfplane.domain.scheduling import WeigherConfig
from vfplane.errors import Forbidden
from vfplane.service.context import RequestContext
from vfplane.service.host_view import ComputeConfig, HostView
from vfplane.service.identity import validate_token
from vfplane.service.metrics import Metrics, StateCollector
from vfplane.service.networks import NetworkConfig
from vfplane.service.notifier import HostNotifier
from vfplane.service.ports import PortConfig
from vfplane.service.token_cache import TokenCache
from vfplane.settings import Settings


def utc_now() -> datetime:
    """Naive UTC, as the database stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class ApiDependencies:
    settings: Settings
    sessions: SessionFactory
    network_config: NetworkConfig
    binding: BindingManager
    notifier: HostNotifier = field(default_factory=HostNotifier)
    clock: Callable[[], datetime] = utc_now
    aliases: Mapping[str, Alias] = field(default_factory=dict)  # [pci] alias, parsed
    port_config: PortConfig = field(default_factory=PortConfig)
    host_view: HostView = field(default_factory=HostView)  # one per process, shared
    tokens: TokenCache = field(default_factory=TokenCache)
    metrics: Metrics = field(default_factory=Metrics)  # its registry is what /metrics shows

    def __post_init__(self) -> None:
        hosts = partial(self.host_view.hosts, self.sessions)  # the gauges, read at scrape time
        self.metrics.watch(StateCollector(self.sessions, hosts, lambda: self.clock()))

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: SessionFactory, **overrides: Any
    ) -> ApiDependencies:
        """Validate what the API needs from ``settings`` once, at start-up."""
        config = NetworkConfig.from_settings(settings.network)
        metrics: Metrics = overrides.setdefault("metrics", Metrics())
        binding = BindingManager.from_settings(settings.network, metrics.binding_failed)
        overrides.setdefault("aliases", parse_aliases(settings.pci.alias))
        overrides.setdefault("port_config", PortConfig.from_settings(settings.network))
        compute = settings.compute
        weighers = WeigherConfig(compute.ram_weight_multiplier, compute.pci_weight_multiplier)
        ratios = compute.cpu_allocation_ratio, compute.ram_allocation_ratio
        config_of_host_view = ComputeConfig(*ratios, weighers, compute.host_subset_size)
        overrides.setdefault("host_view", HostView(config_of_host_view, metrics))
        return cls(settings, sessions, config, binding, **overrides)

    @property
    def public_base(self) -> str:
        return self.settings.server.public_base()


def dependencies(request: Request) -> ApiDependencies:
    deps: ApiDependencies = request.app.state.deps
    return deps


Deps = Annotated[ApiDependencies, Depends(dependencies)]


def database(deps: Deps) -> Iterator[Session]:
    """The request's session, closed after the handler (quietly, should the database have
    dropped its connection meanwhile: the handler's answer stands)."""
    session = deps.sessions()
    try:
        yield session
    finally:
        close_session(session)


Db = Annotated[Session, Depends(database)]


# What the credentials of one host's agent may call: its reports, its host's desired state, the
# ports bound to its host (``service.ports`` narrows them) and its own token. The service role
# gives it nothing else: no other project's resources, no binding attributes, no explanations.
_AGENT_ROUTES = tuple(
    (frozenset(methods.split()), re.compile(path))
    for methods, path in (
        ("POST", r"/v1/agents/heartbeat"),
        ("GET", r"/v1/(hosts|devices)"),
        ("GET PUT", r"/v1/hosts/[^/]+"),
        ("GET", r"/v1/hosts/[^/]+/desired"),
        ("POST", r"/v1/hosts/[^/]+/(ports|servers)/status"),
        ("GET", r"/network/v2\.0/ports(/[^/]+)?"),
        ("GET DELETE", r"/identity/v3/auth/tokens"),
        ("GET", r"/identity/v3/auth/catalog"),
    )
)


def check_agent_route(request: Request, context: RequestContext) -> None:
    """403 for a host's agent calling anything but what its agent needs."""
    if context.host_scope is None:
        return
    path, method = request.url.path.rstrip("/"), request.method
    if any(method in methods and rx.fullmatch(path) for methods, rx in _AGENT_ROUTES):
        return
    raise Forbidden(
        f"{method} {path}: these credentials belong to the agent of host {context.host_scope}; "
        "they report for that host only",
        kind="PolicyNotAuthorized",
    )


def caller(
    request: Request,
    deps: Deps,
    x_auth_token: Annotated[str | None, Header()] = None,
) -> RequestContext:
    """The context of the token in ``X-Auth-Token``; 401 without a live one.

    It uses a session of its own, closed at once, so that long-polling requests
    hold no database connection while they wait.
    """
    token, now = x_auth_token or "", deps.clock()
    context = deps.tokens.get(token, now) if token else None
    if context is None:
        with deps.sessions() as session:
            context = validate_token(session, token, now)
        if context.token_expires_at is not None:
            deps.tokens.put(token, context, context.token_expires_at)
    check_agent_route(request, context)
    context = replace(context, request_id=getattr(request.state, "request_id", ""))
    request.state.context = context
    return context


Caller = Annotated[RequestContext, Depends(caller)]
