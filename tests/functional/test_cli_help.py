"""Help text shows words in square brackets (TOML tables such as ``[server]``) literally:
typer renders help as rich markup, where an unescaped ``[server]`` is a tag and vanishes."""

from __future__ import annotations

import pytest

from tests.functional.conftest import Invoke


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide enough that rich does not wrap an option's help across lines."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize(
    ("command", "texts"),
    [
        (["server"], ["vfplane.toml ([server], [database], …).", "Overrides [server] data_dir."]),
        (["up"], ["Cluster file (TOML [[hosts]]); default: 3 hosts, 2 physnets."]),
        (["agent"], ["vfplane.toml with [agent] and [pci]."]),
        (
            ["inventory"],
            ["(default: [agent] sysfs_root, or /).", "vfplane.toml with [pci] and [agent]."],
        ),
        (["device-spec"], ["Check [pci] device_spec entries."]),
        ([], ["Check [pci] device_spec entries."]),
    ],
)
def test_help_keeps_bracketed_words(vfplane: Invoke, command: list[str], texts: list[str]) -> None:
    result = vfplane(*command, "--help")
    assert result.exit_code == 0, result.output
    for text in texts:
        assert text in result.output
    assert "\\[" not in result.output  # the escape itself is not shown
