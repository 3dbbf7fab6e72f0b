"""QoS rates become VF rates in Mbps the way Neutron's SR-IOV agent rounds them."""

from __future__ import annotations

import pytest

from vfplane.domain.qos import kbps_to_mbps


@pytest.mark.parametrize(
    ("kbps", "mbps"),
    [
        (0, 0),  # unlimited stays unlimited
        (1, 1),  # any limit below 1 Mbps is 1 Mbps, never "unlimited"
        (500, 1),
        (999, 1),
        (1000, 1),
        (1400, 1),
        (1499, 1),
        (1500, 2),  # round half to even: 1.5 -> 2
        (2500, 2),  # ... and 2.5 -> 2
        (2501, 3),
        (3500, 4),
        (10000, 10),
        (10499, 10),
        (10500, 10),
        (10501, 11),
        (2**31 - 1, 2147484),
    ],
)
def test_kbps_to_mbps(kbps: int, mbps: int) -> None:
    assert kbps_to_mbps(kbps) == mbps


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="-1 kbps"):
        kbps_to_mbps(-1)
