"""What the API acknowledged with a 2xx survives the server being killed (SIGKILL) at once:
a real ``vfplane server`` process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.functional.db.conftest import EmptyDatabases
from vfplane.cli.server import bootstrap_data_dir
from vfplane.settings import load_settings

START_TIMEOUT_S = 60.0
NETS, SUBNETS, PORTS = "/network/v2.0/networks", "/network/v2.0/subnets", "/network/v2.0/ports"
QOS = "/network/v2.0/qos/policies"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(data_dir: Path, url: str | None) -> Path:
    port = _free_port()
    text = (f'[server]\nport = {port}\ndata_dir = "{data_dir}"\n'
            '[network]\nnetwork_vlan_ranges = ["physnet1:100:199"]\n')  # fmt: skip
    if url is not None and url.startswith("postgresql"):
        text += f'[database]\nurl = "{url}"\n'
    path = data_dir / "vfplane.toml"
    path.write_text(text)
    return path


@contextmanager
def running_server(config: Path, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m vfplane server`` until it answers; killed (SIGKILL) when left."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VFPLANE_")}
    settings = load_settings(config, {})
    url = f"http://127.0.0.1:{settings.server.port}"
    with log.open("ab") as out:
        command = [sys.executable, "-m", "vfplane", "server", "--config", str(config)]
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"vfplane server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/identity/v3", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _admin_token(url: str, clouds_yaml: Path) -> str:
    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"]["vfplane-admin"]["auth"]
    user = {"name": auth["username"], "password": auth["password"], "domain": {"id": "default"}}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                     "scope": {"project": {"name": auth["project_name"],
                                           "domain": {"id": "default"}}}}}  # fmt: skip
    response = httpx.post(f"{url}/identity/v3/auth/tokens", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def _create(client: httpx.Client, path: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json={kind: body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()[kind]
    return created


def _acknowledged(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """Create a QoS policy, a network, a subnet and ports; returns each by its GET path."""
    policy = _create(client, QOS, "policy", {"name": "gold"})
    network = _create(client, NETS, "network", {
        "name": "durable", "provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": 150})  # fmt: skip
    subnet_body = {"network_id": network["id"], "cidr": "10.9.0.0/24", "ip_version": 4}
    subnet = _create(client, SUBNETS, "subnet", subnet_body)
    made = {f"{QOS}/{policy['id']}": policy, f"{NETS}/{network['id']}": network,
            f"{SUBNETS}/{subnet['id']}": subnet}  # fmt: skip
    for n in range(3):
        port = _create(client, PORTS, "port", {"network_id": network["id"], "name": f"p{n}",
                                               "qos_policy_id": policy["id"]})  # fmt: skip
        made[f"{PORTS}/{port['id']}"] = port
    renamed = client.put(f"{NETS}/{network['id']}", json={"network": {"name": "renamed"}})
    assert renamed.status_code == 200, renamed.text  # the last 2xx: SIGKILL follows at once
    made[f"{NETS}/{network['id']}"] = renamed.json()["network"]
    return made


KEPT = ("id", "name", "network_id", "cidr", "mac_address", "fixed_ips", "qos_policy_id",
        "provider:segmentation_id", "revision_number")  # fmt: skip


def test_acknowledged_writes_survive_sigkill(
    empty_databases: EmptyDatabases, tmp_path: Path
) -> None:
    url = empty_databases.new() if empty_databases.backend == "postgresql" else None
    config, log = _config(tmp_path, url), tmp_path / "server.log"
    clouds_yaml = bootstrap_data_dir(load_settings(config, {}))
    with running_server(config, log) as (base, process):
        token = _admin_token(base, clouds_yaml)
        with httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=30) as client:
            made = _acknowledged(client)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    with (
        running_server(config, log) as (base, _),
        httpx.Client(
            base_url=base,
            headers={"X-Auth-Token": token},
            timeout=30,  # the token survived too
        ) as client,
    ):
        for path, created in made.items():
            response = client.get(path)
            assert response.status_code == 200, f"{path} lost: {response.text}"
            (found,) = response.json().values()
            assert {k: found.get(k) for k in KEPT} == {k: created.get(k) for k in KEPT}
