"""``/ui``: the topology dashboard, three static files (no build step, nothing remote).

The page logs in through ``/identity/v3/auth/tokens`` and reads ``/v1/dashboard``; these
routes serve only its files, with a policy that lets it load nothing from elsewhere.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from vfplane.errors import NotFound

router = APIRouter(prefix="/ui", include_in_schema=False)
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def asset(name: str) -> bytes:
    """One of the page's files, as shipped in the package."""
    return resources.files("vfplane.api").joinpath("ui_static", name).read_bytes()


def _serve(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"/ui/{name} does not exist", kind="NotFound")
    return Response(asset(name), media_type=ASSETS[name], headers=HEADERS)


@router.get("")
def page_without_slash() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/")
def page() -> Response:
    return _serve("index.html")


@router.get("/{name}")
def static_file(name: str) -> Response:
    return _serve(name)
