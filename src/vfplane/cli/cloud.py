"""Which cloud a CLI command talks to: clouds.yaml, as the OpenStack clients read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer
import yaml

from vfplane.client import ApiClient, Credentials

CLOUDS_FILES = (Path("clouds.yaml"), Path("~/.config/openstack/clouds.yaml"))


class CliProblem(Exception):
    """A usage, configuration or authentication problem: one line, exit status 2."""


@dataclass(frozen=True)
class Cloud:
    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"

    @property
    def base_url(self) -> str:
        url = self.auth_url.rstrip("/")
        for suffix in ("/v3", "/identity"):
            url = url.removesuffix(suffix)
        return url


def load_cloud(name: str, config_file: Path | None) -> Cloud:
    """The cloud ``name`` of clouds.yaml (``--os-client-config-file`` or the usual places)."""
    candidates = [config_file] if config_file else [p.expanduser() for p in CLOUDS_FILES]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise CliProblem(f"no clouds.yaml found (looked at {', '.join(map(str, candidates))})")
    try:
        clouds = yaml.safe_load(path.read_text()).get("clouds") or {}
        auth = clouds[name]["auth"]
        return Cloud(
            auth_url=auth["auth_url"],
            username=auth["username"],
            password=auth["password"],
            project_name=auth["project_name"],
            user_domain_name=auth.get("user_domain_name", "Default"),
            project_domain_name=auth.get("project_domain_name", "Default"),
        )
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise CliProblem(f"cannot read {path}: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise CliProblem(f"{path}: cloud '{name}' is missing or lacks auth {exc}") from exc


def api_client(cloud: Cloud) -> ApiClient:
    credentials = Credentials(cloud.username, cloud.password, cloud.project_name,
                              cloud.user_domain_name, cloud.project_domain_name)  # fmt: skip
    return ApiClient(cloud.base_url, credentials, timeout=30)


OS_CLOUD = typer.Option(None, "--os-cloud", envvar="OS_CLOUD", help="Cloud in clouds.yaml.")
OS_CLIENT_CONFIG_FILE = typer.Option(
    None, "--os-client-config-file", envvar="OS_CLIENT_CONFIG_FILE", help="clouds.yaml to read."
)


def cloud_from_options(os_cloud: str | None, config_file: Path | None) -> Cloud:
    if not os_cloud:
        raise CliProblem("no cloud given: use --os-cloud NAME or set OS_CLOUD")
    return load_cloud(os_cloud, config_file)
