"""Acceptance: ports, binding, agents and QoS through the real openstack CLI."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import BIN, Cloud, heartbeat


@pytest.fixture(scope="module")
def shared_net(cloud: Cloud) -> str:
    cloud.json(
        "admin", "network", "create", "--share", "--provider-network-type", "vlan",
        "--provider-physical-network", "physnet1", "--provider-segment", "120", "e2e-shared",
    )  # fmt: skip
    cloud.json("admin", "subnet", "create", "--network", "e2e-shared", "--subnet-range",
               "10.20.0.0/24", "e2e-shared-sub")  # fmt: skip
    heartbeat(cloud, "compute-1", {"physnet1": ["ens1f0"]})
    return "e2e-shared"


def test_agent_list(cloud: Cloud, shared_net: str) -> None:
    agents = cloud.json("admin", "network", "agent", "list", "--host", "compute-1")
    assert [(a["Agent Type"], a["Host"], a["Alive"]) for a in agents] == [
        ("NIC Switch agent", "compute-1", True)
    ]


def test_direct_port_binds_as_hw_veb(cloud: Cloud, shared_net: str) -> None:
    port = cloud.json("demo", "port", "create", "--network", shared_net, "--vnic-type", "direct",
                      "e2e-p1")  # fmt: skip
    assert port["binding_vnic_type"] == "direct"
    assert port["fixed_ips"][0]["ip_address"].startswith("10.20.0.")
    assert port["mac_address"].startswith("fa:16:3e:")
    cloud.openstack("admin", "port", "set", "--host", "compute-1", "--binding-profile",
                    "pci_slot=0000:3b:02.0", port["id"])  # fmt: skip
    admin_view = cloud.json("admin", "port", "show", port["id"])
    assert admin_view["binding_host_id"] == "compute-1"
    assert admin_view["binding_vif_type"] == "hw_veb"
    assert admin_view["binding_vif_details"]["vlan"] == "120"
    assert admin_view["binding_profile"] == {"pci_slot": "0000:3b:02.0"}
    member_view = cloud.json("demo", "port", "show", "e2e-p1")
    assert member_view["binding_vnic_type"] == "direct"
    assert not member_view.get("binding_host_id")
    assert not member_view.get("binding_vif_type")


def test_member_cannot_set_host_or_profile(cloud: Cloud, shared_net: str) -> None:
    cloud.json("demo", "port", "create", "--network", shared_net, "--vnic-type", "direct", "e2e-p2")
    host = cloud.openstack("demo", "port", "set", "--host", "compute-1", "e2e-p2", check=False)
    assert host.returncode == 1
    assert "403" in host.stderr
    profile = cloud.openstack("demo", "port", "set", "--binding-profile", "pci_slot=x", "e2e-p2",
                              check=False)  # fmt: skip
    assert profile.returncode == 1
    assert "403" in profile.stderr


def test_other_project_cannot_use_a_private_network(cloud: Cloud) -> None:
    network = cloud.json("demo", "network", "create", "e2e-demo-only")
    result = cloud.openstack("other", "port", "create", "--network", network["id"], "x",
                             check=False)  # fmt: skip
    assert result.returncode == 1


def test_failed_binding_is_explained(cloud: Cloud, shared_net: str) -> None:
    port = cloud.json("admin", "port", "create", "--network", shared_net, "--vnic-type", "direct",
                      "--host", "compute-9", "e2e-lonely")  # fmt: skip
    assert port["binding_vif_type"] == "binding_failed"
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml)}
    explained = subprocess.run(
        [str(BIN / "vfplane"), "port", "explain", "e2e-lonely", "--os-cloud", "vfplane-admin"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert explained.returncode == 1, explained.stderr
    assert "compute-9" in explained.stdout
    assert "sriovnicswitch" in explained.stdout


def test_qos_policy_and_rule(cloud: Cloud) -> None:
    policy = cloud.json("admin", "network", "qos", "policy", "create", "e2e-q1")
    rule = cloud.json("admin", "network", "qos", "rule", "create", "--type", "bandwidth-limit",
                      "--max-kbps", "10000", "e2e-q1")  # fmt: skip
    assert rule["max_kbps"] == 10000
    shown = cloud.json("admin", "network", "qos", "policy", "show", policy["id"])
    assert shown["rules"][0]["max_kbps"] == 10000
    minimum = cloud.json("admin", "network", "qos", "rule", "create", "--type",
                         "minimum-bandwidth", "--min-kbps", "1000", "--egress",
                         "e2e-q1")  # fmt: skip
    assert minimum["min_kbps"] == 1000
