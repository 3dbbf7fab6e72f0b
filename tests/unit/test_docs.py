"""The docs stay true: routes in the OpenStack mapping, device_spec examples, example configs.

- every operation the app serves under the OpenStack prefixes appears in
  ``docs/openstack-mapping.md`` as `` `METHOD /path` ``, and every operation the page
  names exists;
- every ``device-spec`` example of ``docs/operator-guide.md`` parses and, on the sysfs
  tree of the simulated card it names, selects exactly what its ``# selects:`` line says;
- the example configs in ``contrib/`` load, and the systemd units verify when
  ``systemd-analyze`` is there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
import typer
from sqlalchemy import create_engine

from vfplane.agent.inventory import scan_host
from vfplane.api.app import create_app
from vfplane.api.deps import ApiDependencies
from vfplane.cli.main import build_app
from vfplane.db.engine import make_session_factory
from vfplane.domain.alias import parse_aliases
from vfplane.domain.device_mappings import parse_device_mappings
from vfplane.domain.pci import DeviceType
from vfplane.lab.profiles import PROFILES
from vfplane.lab.sysfs_tree import LabSysfs
from vfplane.service.networks import NetworkConfig
from vfplane.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "docs" / "openstack-mapping.md"
GUIDE = ROOT / "docs" / "operator-guide.md"
CONTRIB = ROOT / "contrib"
OPENSTACK_PREFIXES = ("/identity", "/network", "/compute", "/image")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DOC_ROUTE = re.compile(r"`(" + "|".join(METHODS) + r") (/[^`\s]*)`")
FENCE = re.compile(r"^```toml device-spec (?P<options>[^\n]*)\n(?P<body>.*?)^```", re.M | re.S)
SELECTS = re.compile(r"^# selects: (?P<what>.+)$", re.M)
ITEM = re.compile(r"^(?P<pf>\S+): (?P<devices>.+) → (?P<physnet>\S+)$")


def _app_operations() -> set[tuple[str, str]]:
    engine = create_engine("sqlite://")
    deps = ApiDependencies.from_settings(Settings(), make_session_factory(engine))
    app = create_app(deps, build_models=False)
    paths = app.openapi()["paths"]
    engine.dispose()
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def _documented_operations() -> set[tuple[str, str]]:
    return {(m, p) for m, p in DOC_ROUTE.findall(MAPPING.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def app_operations() -> set[tuple[str, str]]:
    return _app_operations()


def test_every_openstack_operation_is_in_the_mapping(app_operations: set[tuple[str, str]]) -> None:
    documented = _documented_operations()
    missing = sorted(
        f"{m} {p}" for m, p in app_operations if p.startswith(OPENSTACK_PREFIXES)
        and (m, p) not in documented
    )  # fmt: skip
    assert not missing, f"docs/openstack-mapping.md does not mention: {missing}"


def test_the_mapping_names_only_operations_that_exist(app_operations: set[tuple[str, str]]) -> None:
    invented = sorted(f"{m} {p}" for m, p in _documented_operations() - app_operations)
    assert not invented, f"docs/openstack-mapping.md names operations the app lacks: {invented}"


# --- device_spec examples ----------------------------------------------------------


def _examples() -> list[tuple[dict[str, str], str]]:
    found = []
    for match in FENCE.finditer(GUIDE.read_text(encoding="utf-8")):
        options = dict(item.split("=", 1) for item in match["options"].split())
        found.append((options, match["body"]))
    return found


def _expected(body: str) -> Counter[tuple[str, str, str]]:
    line = SELECTS.search(body)
    assert line is not None, f"a device-spec example lacks its '# selects:' line:\n{body}"
    wanted: Counter[tuple[str, str, str]] = Counter()
    for item in line["what"].split(";"):
        parsed = ITEM.match(item.strip())
        assert parsed is not None, f"cannot read '{item.strip()}' (PF: N VFs, PF → physnet)"
        for part in parsed["devices"].split(","):
            part = part.strip()
            if part == "PF":
                wanted[(parsed["pf"], DeviceType.PF.value, parsed["physnet"])] += 1
            else:
                count, kind = part.split()
                assert kind == "VFs", part
                wanted[(parsed["pf"], DeviceType.VF.value, parsed["physnet"])] += int(count)
    return wanted


def test_the_guide_has_a_device_spec_example_per_nic_family() -> None:
    profiles = {options.get("profile") for options, _ in _examples()}
    assert profiles == set(PROFILES), f"examples for {sorted(map(str, profiles))}"


@pytest.mark.parametrize(
    ("options", "body"), _examples(), ids=[o.get("profile", "?") for o, _ in _examples()]
)
def test_device_spec_example_selects_what_it_says(
    options: dict[str, str], body: str, tmp_path: Path
) -> None:
    profile = PROFILES[options["profile"]]
    LabSysfs(tmp_path).add_card(profile, pfs=int(options["pfs"]), vfs=int(options["vfs"]))
    data = tomllib.loads(body)
    data.setdefault("agent", {})["sysfs_root"] = str(tmp_path)
    settings = Settings.model_validate(data)
    inventory = scan_host(settings.agent, settings.pci)
    selected: Counter[tuple[str, str, str]] = Counter()
    for device in inventory.devices:
        pf = device.ifname if device.dev_type is DeviceType.PF else device.pf_ifname
        selected[(str(pf), device.dev_type.value, str(device.physical_network))] += 1
    assert not inventory.problems
    assert selected == _expected(body)
    mapped = inventory.mappings.physnets
    for pf, _, physnet in selected:
        assert pf in mapped.get(physnet, ()), f"{pf} is not mapped to {physnet}"


# --- contrib ------------------------------------------------------------------------


def test_the_server_example_config_loads() -> None:
    settings = load_settings(CONTRIB / "vfplane.toml.example", {})
    assert settings.database_url().startswith("sqlite:///")
    NetworkConfig.from_settings(settings.network)
    assert parse_aliases(settings.pci.alias)


def test_the_agent_example_config_loads() -> None:
    settings = load_settings(CONTRIB / "agent.toml.example", {"VFPLANE_AGENT__PASSWORD": "x"})
    agent = settings.agent
    assert agent.password == "x"
    parse_device_mappings(agent.physical_device_mappings, agent.exclude_devices)


def _setting_keys() -> list[tuple[str, str]]:
    sections = Settings.model_fields
    return [
        (section, key)
        for section, field in sections.items()
        for key in field.annotation.model_fields  # type: ignore[union-attr]
    ]


def test_every_setting_is_in_the_guide_and_an_example_config() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    examples = "".join(
        (CONTRIB / name).read_text(encoding="utf-8")
        for name in ("vfplane.toml.example", "agent.toml.example")
    )
    missing = [
        f"[{section}] {key}"
        for section, key in _setting_keys()
        if f"`[{section}]`" not in guide
        or f"`{key}`" not in guide
        or not re.search(rf"^#? ?{key} = ", examples, re.M)
    ]
    assert not missing, f"settings missing from the operator guide or contrib/: {missing}"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("unit", ["vfplane-server.service", "vfplane-agent.service"])
def test_the_systemd_units_verify(unit: str, tmp_path: Path) -> None:
    # ExecStart must name an executable that exists here: this venv's vfplane.
    vfplane = Path(sys.executable).with_name("vfplane")
    text = (CONTRIB / "systemd" / unit).read_text(encoding="utf-8")
    assert "/opt/vfplane/bin/vfplane" in text
    (tmp_path / unit).write_text(text.replace("/opt/vfplane/bin/vfplane", str(vfplane)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr.strip(), result.stderr


# --- commands -----------------------------------------------------------------------

VFPLANE_COMMAND = re.compile(
    r"(?:^\s*|[;&|(]\s*|/bin/)vfplane ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", re.M
)
DOCS = ("quickstart.md", "operator-guide.md", "openstack-mapping.md")


def _code(text: str) -> str:
    """The shell blocks and inline code of a page."""
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    return "\n".join(blocks + re.findall(r"`([^`\n]+)`", text))


def _cli_commands() -> dict[str, set[str] | None]:
    """``vfplane`` command → its subcommands (None for a plain command)."""
    root = typer.main.get_command(build_app())
    found: dict[str, set[str] | None] = {}
    for name, command in getattr(root, "commands", {}).items():
        subcommands = getattr(command, "commands", None)
        found[name] = None if subcommands is None else set(subcommands)
    return found


@pytest.mark.parametrize("page", DOCS)
def test_the_vfplane_commands_the_docs_name_exist(page: str) -> None:
    commands = _cli_commands()
    unknown = []
    for words in VFPLANE_COMMAND.findall(_code((ROOT / "docs" / page).read_text("utf-8"))):
        name, _, sub = words.partition(" ")
        subcommands = commands.get(name, set())
        if name not in commands or (subcommands is not None and sub not in subcommands):
            unknown.append(words)
    assert not unknown, f"{page} names vfplane commands that do not exist: {sorted(set(unknown))}"
