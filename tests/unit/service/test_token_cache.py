"""The token cache answers only while fresh and never for an expired token."""

from __future__ import annotations

from datetime import datetime, timedelta

from vfplane.service.context import RequestContext
from vfplane.service.token_cache import TokenCache

NOW = datetime(2026, 11, 22, 9, 0)
CONTEXT = RequestContext("user", "project", frozenset({"member"}))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_token_is_answered_until_the_ttl_passes() -> None:
    clock = Clock()
    cache = TokenCache(ttl=5.0, clock=clock)
    assert cache.get("t", NOW) is None
    cache.put("t", CONTEXT, NOW + timedelta(hours=1))
    assert cache.get("t", NOW) == CONTEXT
    clock.now += 5.1
    assert cache.get("t", NOW) is None


def test_an_expired_token_is_never_answered() -> None:
    cache = TokenCache(ttl=60.0, clock=Clock())
    cache.put("t", CONTEXT, NOW + timedelta(seconds=1))
    assert cache.get("t", NOW + timedelta(seconds=1)) is None


def test_clear_forgets_everything() -> None:
    cache = TokenCache(clock=Clock())
    cache.put("t", CONTEXT, NOW + timedelta(hours=1))
    cache.clear()
    assert cache.get("t", NOW) is None
