"""Drivers without batches are written one VF at a time, with per-VF failures."""

from __future__ import annotations

from collections.abc import Mapping

from vfplane.domain.vfstate import LinkState, VfConfig
from vfplane.errors import NicError, OutOfRange
from vfplane.host.nic import BatchWriter, write_vfs

PORT = VfConfig(mac="fa:16:3e:00:00:01", vlan=100, qos=0, spoofchk=False, trust=True,
                link_state=LinkState.DISABLE, min_tx_rate=1, max_tx_rate=3)  # fmt: skip


class OneAtATime:
    """A driver without ``write_vfs``."""

    def __init__(self) -> None:
        self.written: dict[int, VfConfig] = {}

    def write_vf(self, pf_ifname: str, vf_index: int, config: VfConfig) -> None:
        if vf_index > 3:
            raise OutOfRange(f"{pf_ifname} has no VF {vf_index}")
        self.written[vf_index] = config

    def read_vfs(self, pf_ifname: str) -> Mapping[int, VfConfig]:
        return dict(self.written)


def test_drivers_without_batches_are_written_one_vf_at_a_time() -> None:
    driver = OneAtATime()
    assert not isinstance(driver, BatchWriter)
    failures = write_vfs(driver, "ens1f0", {0: PORT, 7: PORT, 2: PORT})  # type: ignore[arg-type]
    assert list(failures) == [7]
    assert isinstance(failures[7], NicError)
    assert driver.written == {0: PORT, 2: PORT}
