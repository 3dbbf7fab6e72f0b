"""The agent's domain report carries only the domains that changed since their last report
(all of them on a resync): a pass over N servers does not make the server read N rows."""

from __future__ import annotations

from typing import Any

import pytest

from vfplane.agent.domains import DomainReport
from vfplane.agent.loop import Agent

HOST = "compute-1"
STATUS_PATH = f"/v1/hosts/{HOST}/servers/status"


class RecordingClient:
    """A hand-written ``ApiClient`` that keeps the domain reports it is sent."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []
        self.failing = False

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        assert (method, path) == ("POST", STATUS_PATH)
        if self.failing:
            raise ConnectionError("server away")
        self.sent.append([s["id"] for s in kwargs["json"]["servers"]])
        return {"ignored": []}

    def close(self) -> None:
        pass


def _agent(client: RecordingClient) -> Agent:
    return Agent(HOST, client, reconciler=None, scan=lambda: None)  # type: ignore[arg-type]


def _running(server_id: str, xml: str = "<domain/>") -> DomainReport:
    return DomainReport(server_id, "running", xml=xml)


def test_only_changed_domains_are_reported() -> None:
    client = RecordingClient()
    agent = _agent(client)
    agent._report_domains([_running("a"), _running("b")], force=False)
    agent._report_domains([_running("a"), _running("b"), _running("c")], force=False)
    agent._report_domains([_running("a"), DomainReport("b", "shutoff"), _running("c")], False)
    agent._report_domains([_running("a"), DomainReport("b", "shutoff"), _running("c")], False)
    agent._report_domains([_running("a", "<domain>rebooted</domain>"), _running("c")], False)
    assert client.sent == [["a", "b"], ["c"], ["b"], ["a"]]


def test_a_resync_reports_every_domain_again() -> None:
    client = RecordingClient()
    agent = _agent(client)
    agent._report_domains([_running("a"), _running("b")], force=False)
    agent._report_domains([_running("a"), _running("b")], force=True)
    assert client.sent == [["a", "b"], ["a", "b"]]


def test_a_report_that_failed_is_sent_again() -> None:
    client = RecordingClient()
    agent = _agent(client)
    client.failing = True
    with pytest.raises(ConnectionError):
        agent._report_domains([_running("a")], force=False)
    client.failing = False
    agent._report_domains([_running("a")], force=False)
    assert client.sent == [["a"]]


def test_a_server_gone_and_back_is_reported_again() -> None:
    client = RecordingClient()
    agent = _agent(client)
    agent._report_domains([_running("a")], force=False)
    agent._report_domains([], force=False)
    agent._report_domains([_running("a")], force=False)
    assert client.sent == [["a"], ["a"]]
