"""Settings: one TOML file, env overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfplane.errors import ConfigError
from vfplane.settings import load_settings


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, {})
    assert settings.pci.device_spec == []
    assert settings.agent.sysfs_root == Path("/")


def test_toml_tables_and_nova_json_strings(tmp_path: Path) -> None:
    path = tmp_path / "vfplane.toml"
    path.write_text(
        """
[pci]
device_spec = [
  { vendor_id = "8086", physical_network = "physnet1" },
  '[{"address": "0000:3b:00.1"}]',
]
alias = ['{"name": "a1", "vendor_id": "8086", "product_id": "154c"}']
[agent]
physical_device_mappings = ["physnet1:ens1f0", "physnet1:ens1f1"]
"""
    )
    settings = load_settings(path, {})
    assert settings.pci.device_spec[0] == {"vendor_id": "8086", "physical_network": "physnet1"}
    assert settings.pci.device_spec[1] == '[{"address": "0000:3b:00.1"}]'
    assert settings.agent.physical_device_mappings == ["physnet1:ens1f0", "physnet1:ens1f1"]


def test_environment_overrides(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {
            "VFPLANE_AGENT__SYSFS_ROOT": str(tmp_path),
            "VFPLANE_AGENT__PHYSICAL_DEVICE_MAPPINGS": "physnet1:ens1f0",
            "VFPLANE_PCI__DEVICE_SPEC": '[{vendor_id = "15b3"}]',
            "UNRELATED": "x",
        },
    )
    assert settings.agent.sysfs_root == tmp_path
    assert settings.agent.physical_device_mappings == "physnet1:ens1f0"
    assert settings.pci.device_spec == [{"vendor_id": "15b3"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agent]\nsysfs_rot = '/'\n", "[agent] unknown key 'sysfs_rot'"),
        ("[agent]\nsysfs_rot = '/'\n", "did you mean 'sysfs_root'?"),
        (
            "[wrong]\n",
            "unknown section [wrong] (known: server, database, identity, network, compute",
        ),
        ("[agent]\nhost = 5\n", "[agent] host"),
        ("x = [", "is not valid TOML"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "absent.toml", {})
