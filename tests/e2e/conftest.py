"""A real ``vfplane server`` process driven by the real ``openstack`` CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from vfplane.db.engine import make_engine, make_session_factory
from vfplane.service import identity

BIN = Path(sys.executable).parent
OTHER_PASSWORD = "other-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _add_other_project_user(data_dir: Path, clouds_path: Path) -> None:
    """A member of a third project, for isolation checks, and its cloud entry."""
    engine = make_engine(f"sqlite:///{data_dir / 'vfplane.db'}")
    with make_session_factory(engine)() as session:
        project = identity.ensure_project(session, "other")
        user = identity.ensure_user(session, "other", OTHER_PASSWORD, project)
        identity.grant(session, user, project, identity.ensure_role(session, "member"))
        session.commit()
    engine.dispose()
    clouds = yaml.safe_load(clouds_path.read_text())
    entry = json.loads(json.dumps(clouds["clouds"]["vfplane-demo"]))
    entry["auth"].update(username="other", password=OTHER_PASSWORD, project_name="other")
    clouds["clouds"]["vfplane-other"] = entry
    clouds_path.write_text(yaml.safe_dump(clouds))


@dataclass
class Cloud:
    """The running server and a way to run ``openstack`` against it."""

    url: str
    clouds_yaml: Path
    process: subprocess.Popen[bytes]

    def openstack(
        self, cloud: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml)}
        env.pop("OS_CLOUD", None)
        result = subprocess.run(
            [str(BIN / "openstack"), "--os-cloud", f"vfplane-{cloud}", *args],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed:\n{result.stderr}")
        return result

    def json(self, cloud: str, *args: str) -> Any:
        return json.loads(self.openstack(cloud, *args, "-f", "json").stdout)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    data_dir = tmp_path_factory.mktemp("cloud")
    port = _free_port()
    config = data_dir / "vfplane.toml"
    config.write_text(
        f'[server]\nport = {port}\ndata_dir = "{data_dir}"\n'
        '[network]\nnetwork_vlan_ranges = ["physnet1:100:199", "physnet2:200:299"]\n'
        '[pci]\nalias = [\'{"name": "a1", "vendor_id": "8086", "product_id": "154c", '
        '"device_type": "type-VF"}\']\n'
    )
    vfplane = str(BIN / "vfplane")
    subprocess.run([vfplane, "bootstrap", "--data-dir", str(data_dir), "--config", str(config)],
                   check=True, capture_output=True)  # fmt: skip
    clouds_path = data_dir / "clouds.yaml"
    _add_other_project_user(data_dir, clouds_path)
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen([vfplane, "server", "--config", str(config)],
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/identity/v3", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"vfplane server did not start:\n{(data_dir / 'server.log').read_text()}"
            )
        time.sleep(0.1)
    yield Cloud(url, clouds_path, process)
    process.terminate()
    process.wait(timeout=10)
    log.close()


def token_for(cloud: Cloud, name: str) -> str:
    """A token of the cloud ``vfplane-<name>``, the way keystoneauth gets one."""
    auth = yaml.safe_load(cloud.clouds_yaml.read_text())["clouds"][f"vfplane-{name}"]["auth"]
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": auth["username"], "password": auth["password"],
                                      "domain": {"name": "Default"}}},
            },
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}},
        }
    }  # fmt: skip
    response = httpx.post(f"{cloud.url}/identity/v3/auth/tokens", json=body, timeout=10)
    response.raise_for_status()
    return response.headers["X-Subject-Token"]


def heartbeat(cloud: Cloud, host: str, device_mappings: dict[str, list[str]]) -> None:
    """What a host agent reports: it is alive and which PFs reach which physnets."""
    body = {
        "host": host,
        "agent_type": "NIC Switch agent",
        "binary": "vfplane-agent",
        "configurations": {"device_mappings": device_mappings},
    }
    headers = {"X-Auth-Token": token_for(cloud, "admin")}
    response = httpx.post(f"{cloud.url}/v1/agents/heartbeat", json=body, headers=headers)
    response.raise_for_status()
