"""The synthetic cloud of ``workload.py`` as vfplane's scheduler input."""

from __future__ import annotations

import itertools

import workload

from vfplane.domain.alias import NumaPolicy
from vfplane.domain.pci import DeviceType, PciAddress
from vfplane.domain.requests import PciRequest, port_request
from vfplane.domain.scheduling import HostCandidate, InstanceRequest, SchedDevice


def to_host(host: workload.Host) -> HostCandidate:
    devices = tuple(
        SchedDevice(
            address=PciAddress.parse(d.address),
            vendor_id=d.vendor_id,
            product_id=d.product_id,
            dev_type=DeviceType(d.dev_type),
            parent_addr=PciAddress.parse(d.parent) if d.parent else None,
            numa_node=d.numa_node,
            tags={"physical_network": d.physnet},
        )
        for d in host.devices
    )
    return HostCandidate(
        name=host.name,
        vcpus=host.vcpus,
        memory_mb=host.memory_mb,
        numa_nodes=host.numa_nodes,
        devices=devices,
    )


def to_request(boot: workload.BootRequest) -> InstanceRequest:
    ids = itertools.count(1)
    policy = NumaPolicy(boot.numa_policy) if boot.numa_policy else None
    requests: list[PciRequest] = []
    for port in boot.ports:
        request = port_request(
            port.port_id, "direct", port.physnet, None, None, lambda: f"{boot.name}-r{next(ids)}"
        )
        assert request is not None
        requests.append(request)
    if boot.alias_count:
        requests.append(
            PciRequest(
                request_id=f"{boot.name}-r{next(ids)}",
                count=boot.alias_count,
                specs=(dict(workload.ALIAS_SPEC),),
                numa_policy=None,  # takes the flavor's policy (or legacy)
                alias_name=workload.ALIAS_NAME,
                requester_id=None,
            )
        )
    return InstanceRequest(
        vcpus=boot.vcpus,
        memory_mb=boot.memory_mb,
        pci_requests=tuple(requests),
        numa_policy=policy,
        guest_numa_nodes=boot.guest_numa_nodes,
    )
