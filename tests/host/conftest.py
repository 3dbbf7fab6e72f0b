from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.virt.fake_hypervisor import FakeHypervisor
from tests.unit.virt.schema import Validate, validator
from vfplane.host.hypervisor import Hypervisor, LibvirtHypervisor
from vfplane.lab.cluster import HostSpec, libvirt_host_xml


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """A libvirt test-driver host (``test:///<tmp>/host.xml``): 2 NUMA nodes, no domains."""
    spec = HostSpec.model_validate(
        {"name": "host-1", "profile": "x710", "physnets": ["physnet1"], "numa_nodes": 2}
    )
    node = tmp_path / "host.xml"
    node.write_text(libvirt_host_xml(spec), encoding="utf-8")
    return f"test://{node}"


@pytest.fixture
def validate(tmp_path: Path) -> Validate:
    """Assert that a domain document validates against libvirt's schema."""
    return validator(tmp_path)


@pytest.fixture
def libvirt_hv(uri: str) -> Iterator[LibvirtHypervisor]:
    with LibvirtHypervisor(uri) as hypervisor:
        yield hypervisor


@pytest.fixture(params=["libvirt", "fake"])
def hypervisor(request: pytest.FixtureRequest, uri: str) -> Iterator[Hypervisor]:
    """The contract: the real adapter and the in-memory fake behave alike."""
    if request.param == "fake":
        yield FakeHypervisor()
        return
    with LibvirtHypervisor(uri) as real:
        yield real


def run_ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    """A fresh namespace with a veth pair ``vf-a``/``vf-b``; deleted afterwards."""
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    name = f"vfplane-test-{secrets.token_hex(4)}"
    created = run_ip("netns", "add", name)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {created.stderr.strip()}")
    try:
        veth = run_ip("-n", name, "link", "add", "vf-a", "type", "veth", "peer", "name", "vf-b")
        if veth.returncode != 0:
            pytest.skip(f"cannot create a veth pair: {veth.stderr.strip()}")
        yield name
    finally:
        run_ip("netns", "del", name)
