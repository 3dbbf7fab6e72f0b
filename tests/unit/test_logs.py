"""Log lines: JSON objects (or text) carrying the request id of the context and their fields;
the ``[logging]`` settings and the handler the processes install."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vfplane import logs
from vfplane.errors import ConfigError
from vfplane.settings import LoggingSettings, load_settings

RID = "req-6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
WHEN = datetime(2026, 12, 7, 2, 30, 0, 250000, tzinfo=UTC)


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("vfplane.agent.reconcile", logging.INFO, __file__, 1, message,
                               args, None)  # fmt: skip
    record.created = WHEN.timestamp()
    record.__dict__.update(extra)
    return record


def _filtered(record: logging.LogRecord) -> logging.LogRecord:
    assert logs.ContextFilter().filter(record)
    return record


def test_a_json_line_is_one_object_with_the_request_id_and_the_fields_of_the_line() -> None:
    with logs.log_context(request_id=RID, host="compute-1"):
        record = _filtered(_record("VF %s configured for port %s", "0000:3b:02.1", "p1",
                                   port_id="p1", pci_address="0000:3b:02.1"))  # fmt: skip
    line = logs.json_formatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "timestamp": "2026-12-07T02:30:00.250000+00:00",
        "level": "INFO",
        "logger": "vfplane.agent.reconcile",
        "message": "VF 0000:3b:02.1 configured for port p1",
        "request_id": RID,
        "host": "compute-1",
        "port_id": "p1",
        "pci_address": "0000:3b:02.1",
    }
    assert list(json.loads(line))[:5] == list(logs.JSON_FIRST)


def test_without_a_request_id_the_line_has_no_such_key() -> None:
    line = logs.json_formatter().format(_filtered(_record("host registered")))
    assert set(json.loads(line)) == {"timestamp", "level", "logger", "message"}


def test_a_field_given_with_the_line_wins_over_the_context() -> None:
    other = "req-00000000-0000-4000-8000-000000000000"
    with logs.log_context(request_id=RID, server_id="s1"):
        record = _filtered(_record("domain removed", request_id=other))
        with logs.log_context(server_id="s2", port_id=None):  # None and "" add nothing
            inner = _filtered(_record("inner"))
    assert (record.request_id, record.server_id) == (other, "s1")
    assert (inner.request_id, inner.server_id, hasattr(inner, "port_id")) == (RID, "s2", False)
    assert logs.current_request_id() is None  # the context ended with the block


def test_a_text_line_names_the_request_before_the_message() -> None:
    with logs.log_context(request_id=RID):
        tagged = logs.TextFormatter().format(_filtered(_record("domain %s started", "vm")))
    plain = logs.TextFormatter().format(_filtered(_record("domain %s started", "vm")))
    assert tagged.endswith(f" INFO vfplane.agent.reconcile [{RID}] domain vm started")
    assert plain.endswith(" INFO vfplane.agent.reconcile domain vm started")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (RID, True),
        (RID.upper().replace("REQ-", "req-"), False),  # oslo's ids are lower-case
        (RID.removeprefix("req-"), False),
        (RID + "0", False),
        (f"{RID}\nforged: line", False),
        ("req-not-a-uuid", False),
        ("", False),
    ],
)
def test_well_formed_request_ids_are_oslo_s(value: str, valid: bool) -> None:
    assert logs.valid_request_id(value) is valid
    assert logs.valid_request_id(logs.new_request_id())


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, given back as it was (handlers and level)."""
    logger = logging.getLogger()
    handlers, level = list(logger.handlers), logger.level
    yield logger
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_setup_replaces_its_own_handler_and_leaves_others_alone(
    root: logging.Logger, tmp_path: Path
) -> None:
    others = list(root.handlers)
    logs.configure(LoggingSettings(format="text", level="warning"), filename=tmp_path / "a.log")
    logs.configure(LoggingSettings(level="debug"), "json", filename=tmp_path / "b.log")
    assert root.handlers[: len(others)] == others
    assert len(root.handlers) == len(others) + 1
    assert root.level == logging.DEBUG
    with logs.log_context(request_id=RID):
        logging.getLogger("vfplane.test").debug("ports %d", 2, extra={"host": "compute-1"})
    root.handlers[-1].flush()
    (line,) = (tmp_path / "b.log").read_text().splitlines()
    assert json.loads(line)["request_id"] == RID
    assert json.loads(line)["message"] == "ports 2"
    assert (tmp_path / "a.log").read_text() == ""


def test_a_handler_on_a_stream_filters_and_formats() -> None:
    stream = io.StringIO()
    handler = logs.make_handler("json", stream=stream)
    with logs.log_context(request_id=RID):
        handler.handle(_record("x"))
    assert json.loads(stream.getvalue())["request_id"] == RID


def test_logging_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "vfplane.toml"
    path.write_text('[logging]\nformat = "json"\nlevel = "debug"\n')
    assert load_settings(path, {}).logging == LoggingSettings(format="json", level="DEBUG")
    assert load_settings(None, {}).logging == LoggingSettings(format="text", level="INFO")
    env = {"VFPLANE_LOGGING__FORMAT": "json"}
    assert load_settings(None, env).logging.format == "json"
    with pytest.raises(ConfigError, match=r"\[logging\] format"):
        load_settings(None, {"VFPLANE_LOGGING__FORMAT": "xml"})
