"""``vfplane server`` and ``vfplane agent`` refuse a malformed config: exit 2, one line on
stderr naming the key, before serving or scanning anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests.functional.conftest import Invoke
from vfplane.db import migrate
from vfplane.db.engine import make_engine

AGENT = "[agent]\nusername = 'agent'\npassword = 'secret'\nnic_driver = 'simulated'\n"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vfplane.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml = = =", "is not valid TOML"),
        ("[server]\nport = 'http'\n", "[server] port"),
        ("[server]\nbind_adress = '0.0.0.0'\n", "unknown key 'bind_adress'"),
        ("[pci]\nalias = ['{\"name\": 5}']\n", "alias"),
    ],
)
def test_server_with_a_bad_config_exits_2_naming_the_key(
    vfplane: Invoke, tmp_path: Path, text: str, message: str
) -> None:
    config = _config(tmp_path, text)
    result = vfplane("server", "--config", config, "--data-dir", tmp_path / "data")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pci]\ndevice_spec = ['{\"address\": 5}']\n", "device_spec entry 0"),
        ('[pci]\ndevice_spec = [\'{"address": "0000:3b:02.12"}\']\n', "device_spec entry 0"),
        ("[pci]\ndevice_spec = ['{vendor_id: 8086']\n", "device_spec"),
        ("[agent]\nphysical_device_mappings = 'physnet1'\n", "invalid mapping 'physnet1'"),
        ("[agent]\nreport_interval = -1\n", "[agent] report_interval"),
    ],
)
def test_agent_with_a_bad_config_exits_2_naming_the_key(
    vfplane: Invoke, tmp_path: Path, text: str, message: str
) -> None:
    extra = text.removeprefix("[agent]\n") if text.startswith("[agent]") else ""
    pci = "" if extra else text
    root = f"sysfs_root = '{tmp_path}'\nstate_dir = '{tmp_path / 'state'}'\n"
    config = _config(tmp_path, AGENT + root + extra + pci)
    result = vfplane("agent", "--config", config)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line


def test_a_server_older_than_its_schema_exits_2_naming_both_revisions(
    vfplane: Invoke, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    engine = make_engine(f"sqlite:///{data / 'vfplane.db'}")
    migrate.upgrade(engine)
    with engine.begin() as connection:  # as a newer release would leave it
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    result = vfplane("server", "--config", _config(tmp_path, ""), "--data-dir", data)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: the database schema is at revision 0999")
    assert f"it knows up to {migrate.head_revision()}" in line
