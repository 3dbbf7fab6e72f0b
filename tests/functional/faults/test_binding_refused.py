"""No mechanism driver binds the port: the boot ends in ERROR saying why, nothing held."""

from __future__ import annotations

import pytest

from tests.functional.api.conftest import Api
from tests.functional.api.port_helpers import make_network, make_port
from tests.functional.faults.cloud import boot, device_states, port_left_alone, register_host


@pytest.mark.parametrize(
    ("agent", "mapped", "reason"),
    [
        (False, "physnet1", "no alive NIC Switch agent on host compute-1"),
        (True, "physnet2", "physnet physnet1 is not in the device_mappings"),
    ],
    ids=["no-agent-on-the-host", "physnet-not-mapped"],
)
def test_a_refused_binding_fails_the_boot_with_the_reason_and_gives_everything_back(
    api: Api, agent: bool, mapped: str, reason: str
) -> None:
    register_host(api, agent=agent, mapped=mapped)
    port = make_port(api, "admin", make_network(api, vlan=105), **{"binding:vnic_type": "direct"})
    server = boot(api, [{"port": port["id"]}])
    assert server["status"] == "ERROR"
    assert server["fault"]["message"] == "Port binding failed"
    assert reason in server["fault"]["details"]
    assert set(device_states(api).values()) == {"available"}
    assert port_left_alone(api, port["id"])
