"""QoS vocabulary and the kbps → Mbps conversion the SR-IOV agent applies to VF rates."""

from __future__ import annotations

from enum import StrEnum

MAX_KBPS = 2**31 - 1
"""Neutron's upper bound for every rate (``db_const.DB_INTEGER_MAX_VALUE``)."""


class RuleType(StrEnum):
    BANDWIDTH_LIMIT = "bandwidth_limit"
    MINIMUM_BANDWIDTH = "minimum_bandwidth"


class Direction(StrEnum):
    EGRESS = "egress"
    INGRESS = "ingress"


def kbps_to_mbps(kbps: int) -> int:
    """The VF rate in Mbps for a rule rate in kbps, rounded the way Neutron's agent does.

    0 stays 0 (unlimited); any rate below 1000 kbps becomes 1 Mbps so that a small
    limit never turns into "unlimited"; otherwise Python's ``round`` (half to even).
    """
    if kbps < 0:
        raise ValueError(f"a rate cannot be negative: {kbps} kbps")
    if kbps == 0:
        return 0
    if kbps < 1000:
        return 1
    return round(kbps / 1000)
