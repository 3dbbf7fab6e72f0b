"""``GET /v1/ports/{id}/explain`` and ``vfplane port explain``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from tests.functional.api.conftest import PASSWORD, Api
from tests.functional.api.port_helpers import heartbeat, make_network, make_port, update_port
from tests.functional.conftest import Invoke
from vfplane.cli import port as cli

HOST = "compute-1"


def _failed_port(api: Api) -> dict[str, Any]:
    network_id = make_network(api, "admin")
    port = make_port(api, "admin", network_id, name="p1", **{"binding:vnic_type": "direct"})
    update_port(api, "admin", port["id"], **{"binding:host_id": HOST})
    return port


def test_explain_a_failed_binding(api: Api) -> None:
    port = _failed_port(api)
    response = api.get("admin", f"/v1/ports/{port['id']}/explain")
    assert response.status_code == 200, response.text
    body = response.json()["port"]
    assert body["host"] == HOST
    assert body["vif_type"] == "binding_failed"
    assert body["network"]["physical_network"] == "physnet1"
    assert body["network"]["segmentation_id"] == 100
    assert [r["driver"] for r in body["failure_reasons"]] == [
        "sriovnicswitch",
        "linuxbridge",
        "qbh",
    ]
    assert [d["binds"] for d in body["drivers"]] == [False, False, False]
    heartbeat(api)
    now = api.get("agent", f"/v1/ports/{port['id']}/explain").json()["port"]
    assert now["drivers"][0] == {"driver": "sriovnicswitch", "binds": True, "vif_type": "hw_veb"}


def test_explain_is_for_admins_and_services(api: Api) -> None:
    port = _failed_port(api)
    assert api.get("demo", f"/v1/ports/{port['id']}/explain").status_code == 403
    missing = api.get("admin", "/v1/ports/nope/explain")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "PortNotFound"


@pytest.fixture
def cloud() -> cli.Cloud:
    return cli.Cloud("http://testserver/identity/v3", "admin", PASSWORD, "admin")


def test_cli_explains_failure_and_exits_1(api: Api, cloud: cli.Cloud) -> None:
    _failed_port(api)
    console = Console(record=True, width=200)
    assert cli.run_explain(api.client, cloud, "p1", console) == 1
    text = console.export_text()
    assert "binding_failed" in text
    assert f"sriovnicswitch: no alive NIC Switch agent on host {HOST}" in text
    assert "physnet physnet1, segment 100" in text


def test_cli_exits_0_when_bound(api: Api, cloud: cli.Cloud) -> None:
    heartbeat(api)
    port = _failed_port(api)
    update_port(api, "admin", port["id"], name="p1")
    console = Console(record=True, width=200)
    assert cli.run_explain(api.client, cloud, port["id"], console) == 0
    assert "hw_veb by sriovnicswitch" in console.export_text()


def test_cli_problems(api: Api, cloud: cli.Cloud) -> None:
    with pytest.raises(cli.CliProblem, match="No Port found for ghost"):
        cli.run_explain(api.client, cloud, "ghost", Console())
    wrong = cli.Cloud(cloud.auth_url, "admin", "wrong", "admin")
    with pytest.raises(cli.CliProblem, match="authentication failed"):
        cli.run_explain(api.client, wrong, "p1", Console())


def test_clouds_yaml(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    auth = {"auth_url": "http://h:9696/identity/v3", "username": "u", "password": "p",
            "project_name": "demo"}  # fmt: skip
    path.write_text(yaml.safe_dump({"clouds": {"c1": {"auth": auth}}}))
    cloud = cli.load_cloud("c1", path)
    assert cloud.base_url == "http://h:9696"
    with pytest.raises(cli.CliProblem, match="cloud 'c2'"):
        cli.load_cloud("c2", path)


def test_command_usage_errors_exit_2(
    vfplane: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OS_CLOUD", raising=False)
    no_cloud = vfplane("port", "explain", "p1")
    assert no_cloud.exit_code == 2
    assert "--os-cloud" in no_cloud.output
    missing = vfplane("port", "explain", "p1", "--os-cloud", "x",
                      "--os-client-config-file", tmp_path / "none.yaml")  # fmt: skip
    assert missing.exit_code == 2
    assert "no clouds.yaml found" in missing.output
    assert vfplane("port", "explain").exit_code == 2
    path = tmp_path / "clouds.yaml"
    auth = {"auth_url": "http://127.0.0.1:9/identity/v3", "username": "u", "password": "p",
            "project_name": "demo"}  # fmt: skip
    path.write_text(yaml.safe_dump({"clouds": {"c1": {"auth": auth}}}))
    down = vfplane("port", "explain", "p1", "--os-cloud", "c1", "--os-client-config-file", path)
    assert down.exit_code == 2
    assert "cannot reach the server" in down.output
