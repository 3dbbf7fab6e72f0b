"""The pure scheduling core: pools, filters, weighers and explanations for booting servers."""

from vfplane.domain.scheduling.catalog import ENOUGH_FITS, HostCatalog
from vfplane.domain.scheduling.decide import (
    Assignment,
    Candidate,
    Decision,
    InstanceRequest,
    WeigherConfig,
    schedule,
)
from vfplane.domain.scheduling.index import HostCandidate, HostIndex, Pool, SchedDevice
from vfplane.domain.scheduling.reasons import (
    DeviceTarget,
    HostExplanation,
    NoMatchingDevice,
    NotEnoughFree,
    NotEnoughMemory,
    NotEnoughNumaNodes,
    NotEnoughVcpus,
    NumaMismatch,
    Reason,
    summarise,
)

__all__ = [
    "ENOUGH_FITS",
    "Assignment",
    "Candidate",
    "Decision",
    "DeviceTarget",
    "HostCandidate",
    "HostCatalog",
    "HostExplanation",
    "HostIndex",
    "InstanceRequest",
    "NoMatchingDevice",
    "NotEnoughFree",
    "NotEnoughMemory",
    "NotEnoughNumaNodes",
    "NotEnoughVcpus",
    "NumaMismatch",
    "Pool",
    "Reason",
    "SchedDevice",
    "WeigherConfig",
    "schedule",
    "summarise",
]
