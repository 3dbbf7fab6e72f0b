from __future__ import annotations

from pathlib import Path

import pytest

from vfplane.lab.sysfs_tree import LabSysfs


@pytest.fixture
def lab(tmp_path: Path) -> LabSysfs:
    """An empty generated host root."""
    return LabSysfs(tmp_path / "host")
