"""Schemathesis against the OpenAPI document: no operation answers 5xx, whatever it is sent.

Every operation of ``/openapi.json`` is called with generated requests, as an admin and as a
member, with inputs that fit the schema (positive) and, for operations that take a body or
a query, inputs that break it (negative); schemathesis' ``not_a_server_error`` check fails
any 5xx. Hypothesis runs derandomized (the same inputs on every run) with no example
database, so a failure here reproduces with the same command.

The run is bounded for CI: ``VFPLANE_FUZZ_EXAMPLES`` examples per operation, caller and mode
(3 by default; about half a minute on two cores). A longer run, before a release or after
changing request models::

    VFPLANE_FUZZ_EXAMPLES=500 .venv/bin/pytest tests/functional/fuzz -q -p no:cacheprovider

``VFPLANE_FUZZ_SEED=N`` runs a different (still reproducible) sample instead of the
derandomized one.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from tests.functional.api.conftest import Api

EXAMPLES = int(os.environ.get("VFPLANE_FUZZ_EXAMPLES", "3"))
SEED = os.environ.get("VFPLANE_FUZZ_SEED")
BASE_URL = "http://testserver"


def _settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        derandomize=SEED is None,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
        report_multiple_bugs=False,
    )


def _send(api: Api, case: Case, token: str) -> httpx.Response:
    """The generated request, through the test's client (its app has started up); the
    document declares no cookies."""
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url=BASE_URL,
                                                      headers={"X-Auth-Token": token})  # fmt: skip
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"]
    return api.client.request(kwargs["method"], kwargs["url"], headers=kwargs.get("headers"),
                              params=kwargs.get("params"), **body)  # fmt: skip


def _modes(operation: APIOperation) -> list[GenerationMode]:
    """Negative inputs only where the schema constrains something a caller sends."""
    modes = [GenerationMode.POSITIVE]
    takes_input = operation.body or any(p.location == "query" for p in operation.iter_parameters())
    if takes_input:
        modes.append(GenerationMode.NEGATIVE)
    return modes


def _fuzz(api: Api, operation: APIOperation, mode: GenerationMode, token: str) -> str | None:
    """The failure report of the first 5xx (shrunk to a small input), or None."""

    @_settings()
    @given(case=operation.as_strategy(generation_mode=mode))
    def no_server_error(case: Case) -> None:
        response = _send(api, case, token)
        case.validate_response(response, checks=[not_a_server_error])

    if SEED is not None:
        hypothesis_seed(int(SEED))(no_server_error)
    try:
        no_server_error()
    except FailureGroup as failures:
        return f"{operation.label} ({mode.value}): {failures}"
    except Unsatisfiable:
        pass  # every generated input fit the schema after all: nothing negative to send
    return None


@pytest.mark.parametrize("caller", ["admin", "demo"])
def test_no_operation_answers_5xx(api: Api, caller: str) -> None:
    schema = schemathesis.openapi.from_dict(api.client.app.openapi())  # type: ignore[attr-defined]
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100  # the whole document, not a part of it
    for operation in operations:
        for mode in _modes(operation):
            failure = _fuzz(api, operation, mode, api.tokens[caller])
            if failure is not None:
                failures.append(failure)
    assert not failures, "\n\n".join(failures)
