"""The installed command behaves like the in-process one: exit codes and streams."""

from __future__ import annotations

import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vfplane", *args], capture_output=True, text=True, check=False
    )


def test_exit_codes_of_a_real_process() -> None:
    device = '{"address": "0000:3b:02.0", "vendor_id": "8086", "product_id": "154c"}'
    assert _run("device-spec", "match", "--spec", "{}", "--device", device).returncode == 0
    no_match = _run("device-spec", "match", "--spec", '{"vendor_id": "15b3"}', "--device", device)
    assert no_match.returncode == 1
    invalid = _run("device-spec", "match", "--spec", '{"vendor_id": 8086}', "--device", device)
    assert invalid.returncode == 2
    assert invalid.stderr.count("\n") == 1
    assert "vendor_id must be a string" in invalid.stderr
    assert "Traceback" not in invalid.stderr
