"""Logging for the vfplane processes: text or JSON lines, each with the request id it serves.

A context variable holds the fields every line made in that context carries: the API's
``RequestIds`` middleware sets ``request_id`` for the request it serves (the threads that
serve it inherit it), the agent sets ``host`` for its loops and ``request_id`` around the
actions one API call asked for. ``ContextFilter`` copies them into each record; a line's own
structured fields (``port_id``, ``server_id``, ``pci_address``, …) come with ``extra=``.

JSON (``[logging] format = "json"``) is one object per line: ``timestamp``, ``level``,
``logger``, ``message``, ``request_id`` when known, and the structured fields.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Literal

from pythonjsonlogger.json import JsonFormatter

from vfplane.settings import LoggingSettings

LogFormat = Literal["text", "json"]
JSON_FIRST = ("timestamp", "level", "logger", "message", "request_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# What oslo.middleware accepts as an inbound X-OpenStack-Request-ID (a global request id).
REQUEST_ID_FORMAT = re.compile(r"req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")
QUIET_LOGGERS = ("httpx", "httpcore")  # one line per call at INFO: the agent's watch, heartbeats

_OURS = "_vfplane_handler"
_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, Any]] = ContextVar("vfplane_log_fields", default=_NO_FIELDS)


REQUEST_ID_PATTERN = f"^{REQUEST_ID_FORMAT.pattern}$"  # for request bodies


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def valid_request_id(value: str) -> bool:
    """A well-formed ``req-<uuid>`` (lower-case, as oslo.context makes them)."""
    return REQUEST_ID_FORMAT.fullmatch(value) is not None


def current_request_id() -> str | None:
    value = _FIELDS.get().get("request_id")
    return str(value) if value else None


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Lines logged inside carry ``fields`` (those that are None or empty are left out)."""
    given = {name: value for name, value in fields.items() if value not in (None, "")}
    token = _FIELDS.set(MappingProxyType({**_FIELDS.get(), **given}))
    try:
        yield
    finally:
        _FIELDS.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context's fields into each record; a field given with ``extra=`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _FIELDS.get().items():
            if getattr(record, name, None) in (None, ""):
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """The classic line, with ``[request_id]`` before the message when there is one."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        if not request_id:
            return super().formatMessage(record)
        tagged = logging.makeLogRecord({**record.__dict__, "message": f"[{request_id}] "
                                        f"{record.message}"})  # fmt: skip
        return super().formatMessage(tagged)


class _JsonFormatter(JsonFormatter):
    """python-json-logger's, with the fixed keys first and in one order."""

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        first = {key: log_data.pop(key) for key in JSON_FIRST if key in log_data}
        rest = dict(log_data)
        log_data.clear()
        log_data.update(first)
        log_data.update(rest)


def json_formatter() -> logging.Formatter:
    """One JSON object per line; extras (``request_id``, ``port_id``, …) become keys."""
    return _JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is written (as ``logging.lastResort``)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def make_handler(
    log_format: LogFormat, filename: Path | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """A handler writing ``log_format`` lines to ``filename``, ``stream`` or stderr."""
    handler: logging.Handler
    if filename is not None:
        handler = logging.FileHandler(filename)
    else:
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())  # on the handler: records of every logger pass it
    return handler


def setup_logging(log_format: LogFormat, level: str = "INFO", filename: Path | None = None) -> None:
    """The process's root handler (stderr, or ``filename``) in ``log_format``; it replaces the
    one an earlier call installed, and leaves handlers others installed alone."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    handler = make_handler(log_format, filename)
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure(
    settings: LoggingSettings, log_format: LogFormat | None = None, filename: Path | None = None
) -> None:
    """``[logging]`` of the settings; ``log_format`` (``--log-format``) overrides its format."""
    setup_logging(log_format or settings.format, settings.level, filename)
