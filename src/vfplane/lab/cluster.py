"""Simulated clusters: a TOML file of hosts, each a generated host root for one agent."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vfplane.domain.pci import DeviceType, PciDevice
from vfplane.errors import ConfigError
from vfplane.host.sysfs import SysfsReader
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs


class HostSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    profile: str
    pfs: int = Field(2, ge=1, le=8)
    vfs: int = Field(8, ge=0)
    vfio_vfs: int = Field(0, ge=0)
    numa: list[int] = Field(default_factory=lambda: [0])
    physnets: list[str] = Field(min_length=1)
    vcpus: int = Field(32, ge=1)
    memory_mb: int = Field(65536, ge=512)
    numa_nodes: int = Field(2, ge=1, le=8)

    @model_validator(mode="after")
    def _check(self) -> HostSpec:
        if self.profile not in PROFILES:
            raise ValueError(f"profile '{self.profile}' is not one of {', '.join(PROFILES)}")
        if len(self.physnets) not in (1, self.pfs):
            raise ValueError(f"physnets needs one entry, or one per PF ({self.pfs})")
        return self

    def physnet_of(self, pf_index: int) -> str:
        return self.physnets[min(pf_index, len(self.physnets) - 1)]


class ClusterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hosts: list[HostSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ClusterSpec:
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError("host names must be unique")
        return self

    @property
    def physnets(self) -> list[str]:
        return sorted({p for h in self.hosts for p in h.physnets})


def load_cluster(path: Path | None) -> ClusterSpec:
    """``path``, or the cluster shipped with vfplane (3 hosts, 2 physnets)."""
    source = str(path) if path else "the default cluster"
    try:
        text = (
            path.read_text()
            if path
            else (files("vfplane.lab") / "clusters/default.toml").read_text()
        )
        return ClusterSpec.model_validate(tomllib.loads(text))
    except OSError as exc:
        raise ConfigError(f"cannot read cluster file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{source}: {where}: {first['msg']}") from exc


def build_host_root(spec: HostSpec, root: Path) -> list[PciDevice]:
    """Write the host's sysfs tree (once; an existing tree is kept, like real hardware)."""
    lab = LabSysfs(root)
    if not (root / "sys").exists():
        lab.add_card(PROFILES[spec.profile], pfs=spec.pfs, vfs=spec.vfs, numa_nodes=spec.numa,
                     vfio_vfs=spec.vfio_vfs)  # fmt: skip
        lab.write_topology(spec.vcpus, spec.memory_mb, spec.numa_nodes)
    return list(SysfsReader(root).scan().devices)


def pf_mappings(spec: HostSpec, devices: list[PciDevice]) -> list[tuple[str, str, str]]:
    """(physnet, PF netdev, PF address) for each PF of the host, in address order."""
    pfs = sorted((d for d in devices if d.dev_type is DeviceType.PF), key=lambda d: d.address)
    return [(spec.physnet_of(i), pf.ifname or "", str(pf.address)) for i, pf in enumerate(pfs)]


def libvirt_host_xml(spec: HostSpec) -> str:
    """A node description for libvirt's test driver (``test:///path/host.xml``)."""
    cores = max(1, spec.vcpus // (2 * spec.numa_nodes))
    return (
        "<node>\n"
        f"  <cpu><mhz>2600</mhz><model>x86_64</model><nodes>{spec.numa_nodes}</nodes>"
        f"<sockets>1</sockets><cores>{cores}</cores><threads>2</threads></cpu>\n"
        f"  <memory>{spec.memory_mb * 1024}</memory>\n"
        "</node>\n"
    )
