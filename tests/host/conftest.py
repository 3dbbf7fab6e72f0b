from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.virt.schema import Validate, validator
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
