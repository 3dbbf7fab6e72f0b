"""``virt-xml-validate``: a whole domain document against libvirt's RelaxNG schema."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Validate = Callable[[str], None]


def validator(directory: Path) -> Validate:
    """A function that asserts a domain document validates; skips without the tool."""
    tool = shutil.which("virt-xml-validate")
    if tool is None:
        pytest.skip("virt-xml-validate missing: apt-get install libvirt-clients libxml2-utils")

    def run(document: str) -> None:
        path = directory / "domain.xml"
        path.write_text(document, encoding="utf-8")
        result = subprocess.run(
            [tool, str(path), "domain"], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr + document

    return run
