"""Refuse NUL characters in a request's URL or JSON body with a 400 naming where they are.

PostgreSQL cannot store NUL in text (SQLite can): without this guard a NUL in a name or an
id failed with a 500 on one backend and was stored on the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vfplane.api.faults import error_body

_ESCAPED_NUL = b"\\u0000"


def _nul_in_url(scope: Scope) -> str | None:
    path = scope.get("raw_path") or scope["path"].encode()
    if b"%00" in path or b"\x00" in path:
        return "the URL path"
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return f"query parameter {unquote(key).replace(chr(0), '')!r}"
    return None


def _nul_paths(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, str):
        if "\x00" in value:
            yield where or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if "\x00" in key:
                yield f"a key of {where or 'body'}"
            yield from _nul_paths(item, name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{where}[{index}]")


def _nul_in_body(body: bytes) -> str | None:
    if _ESCAPED_NUL not in body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None  # not JSON: the endpoint's own validation answers
    return next(_nul_paths(document, ""), None)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that hands it to the app again."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body, replayed = b"".join(chunks), False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


class NulCharacters:
    """Plain ASGI middleware; only JSON bodies are read ahead (image uploads stream on)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _nul_in_url(scope)
        if where is None and _is_json(scope):
            body, receive = await _read_body(receive)
            where = _nul_in_body(body)
        if where is None:
            await self.app(scope, receive, send)
            return
        message = f"Invalid input for {where}: NUL characters are not allowed"
        fault = error_body(scope["path"], 400, "InvalidInput", message)
        await JSONResponse(fault, status_code=400)(scope, receive, send)
