from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.virt.schema import Validate, validator


@pytest.fixture
def validate(tmp_path: Path) -> Validate:
    """Assert that a domain document validates against libvirt's schema."""
    return validator(tmp_path)
