"""Wake requests waiting for a host's desired state, from any thread.

Waiters are asyncio events, so thousands of long-polling agents cost no threads.
``publish`` may be called from request threads (after a commit) or from the
PostgreSQL LISTEN thread (changes committed by other server processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)


class HostNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_Waiter]] = {}

    @contextmanager
    def subscription(self, host: str) -> Iterator[asyncio.Event]:
        """An event set when ``host`` changes; subscribe before reading the state."""
        waiter = _Waiter(asyncio.get_running_loop())
        with self._lock:
            self._waiters.setdefault(host, set()).add(waiter)
        try:
            yield waiter.event
        finally:
            with self._lock:
                waiting = self._waiters.get(host)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._waiters[host]

    def publish(self, hosts: Iterable[str]) -> None:
        with self._lock:
            woken = [w for host in hosts for w in self._waiters.get(host, ())]
        for waiter in woken:
            with contextlib.suppress(RuntimeError):  # that request's loop has closed
                waiter.loop.call_soon_threadsafe(waiter.event.set)

    def waiting(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._waiters.values())
