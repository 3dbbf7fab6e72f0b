"""Neutron list semantics shared by every collection: filters, fields, sorting, paging."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from vfplane.errors import InvalidInput

CONTROL_PARAMS = frozenset({"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"})
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _matches(value: Any, wanted: Sequence[str]) -> bool:
    if isinstance(value, bool):
        choices = {w.lower() for w in wanted}
        return (value and bool(choices & _TRUE)) or (not value and bool(choices & _FALSE))
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(value, list | dict):
        return True  # structured attributes are not filtered (fixed_ips, tags)
    return str(value) in wanted


def _filtered(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    params = request.query_params
    keys = [k for k in dict.fromkeys(params.keys()) if k not in CONTROL_PARAMS]
    for key in keys:
        wanted = params.getlist(key)
        items = [i for i in items if key not in i or _matches(i[key], wanted)]
    return items


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"Invalid input for {name}: '{raw}' is not an integer") from None
    if value < 0:
        raise InvalidInput(f"Invalid input for {name}: {value} is negative")
    return value


def _sorted(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    keys = request.query_params.getlist("sort_key")
    directions = request.query_params.getlist("sort_dir")
    for index in reversed(range(len(keys))):
        key = keys[index]
        direction = directions[index] if index < len(directions) else "asc"
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"Invalid input for sort_dir: '{direction}' is not asc or desc")
        items = sorted(items, key=lambda i: (i.get(key) is None, str(i.get(key))),
                       reverse=direction == "desc")  # fmt: skip
    return items


def _paged(
    items: list[dict[str, Any]], request: Request, plural: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    marker = request.query_params.get("marker")
    if marker:
        ids = [i.get("id") for i in items]
        if marker not in ids:
            raise InvalidInput(f"Invalid input for marker: no {plural[:-1]} {marker}")
        items = items[ids.index(marker) + 1 :]
    limit = _int_param(request, "limit")
    if limit is None or limit == 0 or len(items) <= limit:
        return items, []
    page = items[:limit]
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    params.append(("marker", str(page[-1]["id"])))
    next_url = str(request.url.replace(query=urlencode(params)))
    return page, [{"rel": "next", "href": next_url}]


def _projected(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    fields = [f for f in request.query_params.getlist("fields") if f]
    if not fields:
        return items
    return [{k: v for k, v in item.items() if k in fields} for item in items]


def collection(request: Request, plural: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply filters, sorting, paging and ``fields`` to rendered items, Neutron-style."""
    chosen = _sorted(_filtered(items, request), request)
    page, links = _paged(chosen, request, plural)
    body: dict[str, Any] = {plural: _projected(page, request)}
    if links:
        body[f"{plural}_links"] = links
    return body


def single(request: Request, key: str, item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _projected([dict(item)], request)[0]}


def changed(model: Any) -> dict[str, Any]:
    """The attributes a PUT body actually carries (None included), by attribute name."""
    return {name: getattr(model, name) for name in model.model_fields_set}


Renderer = Callable[[Any], dict[str, Any]]
