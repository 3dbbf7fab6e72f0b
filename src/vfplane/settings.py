"""Typed settings from one TOML file plus ``VFPLANE_<SECTION>__<KEY>`` overrides.

Only the CLI loads settings; everything else receives the parts it needs.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from vfplane.errors import ConfigError

ENV_PREFIX = "VFPLANE_"

SpecValue = str | dict[str, Any] | list[dict[str, Any]]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PciSettings(_Section):
    """``[pci]``: Nova's device_spec and alias, as TOML tables or Nova's JSON strings."""

    device_spec: list[SpecValue] = Field(default_factory=list)
    alias: list[str | dict[str, Any]] = Field(default_factory=list)


class AgentSettings(_Section):
    """``[agent]``: the host agent — what it reads, how it maps PFs, where the server is."""

    host: str | None = None
    sysfs_root: Path = Path("/")
    physical_device_mappings: str | list[str] = Field(default_factory=list)
    exclude_devices: str | list[str] = Field(default_factory=list)
    interface_mappings: str | list[str] = Field(
        default_factory=list,
        description="physnet:interface uplinks for normal (bridged) ports; when set, the agent "
        "also reports as a Linux bridge agent",
    )
    server_url: str = "http://127.0.0.1:9696"
    username: str | None = None
    password: str | None = None
    project_name: str = "service"
    nic_driver: Literal["netlink", "simulated"] = "netlink"
    state_dir: Path = Path("/var/lib/vfplane/agent")
    report_interval: float = Field(default=30.0, gt=0, description="seconds")
    poll_timeout: float = Field(default=30.0, gt=0, le=60, description="seconds")
    rescan_interval: float = Field(default=10.0, gt=0, description="seconds")
    libvirt_uri: str = "qemu:///system"
    vcpus: int | None = Field(default=None, ge=1)
    memory_mb: int | None = Field(default=None, ge=1)


class ServerSettings(_Section):
    """``[server]``: where the API listens and how clients reach it."""

    bind: str = "127.0.0.1"
    port: int = Field(default=9696, ge=0, le=65535)
    public_url: str | None = None
    data_dir: Path = Path("vfplane-data")

    def public_base(self) -> str:
        return (self.public_url or f"http://{self.bind}:{self.port}").rstrip("/")


class DatabaseSettings(_Section):
    """``[database]``: a SQLAlchemy URL; the default is ``<data_dir>/vfplane.db`` (SQLite)."""

    url: str | None = None


class IdentitySettings(_Section):
    token_lifetime: int = Field(default=3600, ge=300, description="seconds")
    region: str = "RegionOne"


class NetworkSettings(_Section):
    """``[network]``: ML2-like binding and segment allocation."""

    mechanism_drivers: list[str] = Field(
        default_factory=lambda: ["sriovnicswitch", "linuxbridge", "qbh"]
    )
    network_vlan_ranges: list[str] = Field(default_factory=list)
    tenant_network_type: Literal["vlan"] = "vlan"
    mac_prefix: str = Field(default="fa:16:3e", pattern=r"^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$")
    default_mtu: int = Field(default=1500, ge=68, le=9216)
    agent_down_time: int = Field(default=75, ge=1, description="seconds")


class ComputeSettings(_Section):
    """``[compute]``: capacity and how long a boot may take."""

    cpu_allocation_ratio: float = Field(default=4.0, gt=0)
    ram_allocation_ratio: float = Field(default=1.0, gt=0)
    build_timeout: float = Field(default=120.0, gt=0, description="seconds")
    action_timeout: float = Field(
        default=120.0, gt=0, description="seconds an agent has to stop, start or reboot"
    )
    pci_weight_multiplier: float = 1.0
    ram_weight_multiplier: float = 1.0
    host_subset_size: int = Field(
        default=1,
        ge=1,
        le=100,
        description="the first host tried is drawn at random from the best N (Nova's "
        "[filter_scheduler] host_subset_size); above 1 when several server processes schedule",
    )


class LoggingSettings(_Section):
    """``[logging]``: how the server and agent processes write their log lines."""

    format: Literal["text", "json"] = Field(
        default="text", description="json: one object per line (timestamp, level, logger, "
        "message, request_id and the line's fields)"
    )  # fmt: skip
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class MetricsSettings(_Section):
    """``[metrics]``: ``GET /metrics`` (Prometheus) is open, as exporters are, unless ``token``
    is set: then a scrape needs ``Authorization: Bearer <token>``."""

    token: SecretStr | None = None


class Settings(_Section):
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    compute: ComputeSettings = Field(default_factory=ComputeSettings)
    pci: PciSettings = Field(default_factory=PciSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.server.data_dir / 'vfplane.db'}"


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (if given) and apply environment overrides; errors name the key."""
    data: dict[str, Any] = {}
    source = str(path) if path else "settings"
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    _apply_environment(data, environ or {})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from exc


def _apply_environment(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        target = data.setdefault(section, {})
        if isinstance(target, dict):
            target[key] = _env_value(raw)


def _env_value(raw: str) -> Any:
    """A TOML value when it parses as one (lists, numbers), the plain string otherwise."""
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def _describe(exc: ValidationError) -> str:
    return "; ".join(_describe_one(error) for error in exc.errors())


def _describe_one(error: Any) -> str:
    location = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden":
        model: type[BaseModel] = Settings
        for part in location[:-1]:
            model = model.model_fields[part].annotation  # type: ignore[assignment]
        known = list(model.model_fields)
        hint = difflib.get_close_matches(location[-1], known, n=1)
        did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
        if len(location) == 1:
            return f"unknown section [{location[0]}] (known: {', '.join(known)}){did_you_mean}"
        return (
            f"[{location[0]}] unknown key '{'.'.join(location[1:])}' "
            f"(known: {', '.join(known)}){did_you_mean}"
        )
    key = ".".join(location[1:])
    return f"[{location[0]}] {key}: {error['msg']} (got {error.get('input')!r})"
