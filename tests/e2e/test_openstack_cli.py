"""Acceptance: the real python-openstackclient against a running vfplane server."""

from __future__ import annotations

from tests.e2e.conftest import Cloud


def test_token_issue(cloud: Cloud) -> None:
    token = cloud.json("admin", "token", "issue")
    assert set(token) >= {"id", "expires", "project_id", "user_id"}


def test_provider_network_and_subnet(cloud: Cloud) -> None:
    network = cloud.json(
        "admin", "network", "create", "--provider-network-type", "vlan",
        "--provider-physical-network", "physnet1", "--provider-segment", "100", "e2e-net1",
    )  # fmt: skip
    assert network["provider:segmentation_id"] == 100
    assert network["provider:physical_network"] == "physnet1"
    subnet = cloud.json(
        "admin", "subnet", "create", "--network", "e2e-net1", "--subnet-range", "10.0.0.0/24",
        "e2e-sub1",
    )  # fmt: skip
    assert subnet["gateway_ip"] == "10.0.0.1"
    assert subnet["network_id"] == network["id"]
    listed = cloud.json("admin", "network", "list", "--name", "e2e-net1")
    assert listed[0]["Subnets"] == [subnet["id"]]


def test_vlan_conflict_message_reaches_the_user(cloud: Cloud) -> None:
    args = ("network", "create", "--provider-network-type", "vlan",
            "--provider-physical-network", "physnet2", "--provider-segment", "250")  # fmt: skip
    cloud.openstack("admin", *args, "e2e-vlan-a")
    again = cloud.openstack("admin", *args, "e2e-vlan-b", check=False)
    assert again.returncode == 1
    assert "The VLAN 250 on physical network physnet2 is in use" in again.stderr


def test_members_cannot_see_or_use_another_projects_network(cloud: Cloud) -> None:
    cloud.json("demo", "network", "create", "e2e-private")
    assert cloud.json("other", "network", "list", "--name", "e2e-private") == []
    show = cloud.openstack("other", "network", "show", "e2e-private", check=False)
    assert show.returncode == 1
    assert "No Network found for e2e-private" in show.stderr
    subnet = cloud.openstack(
        "other", "subnet", "create", "--network", "e2e-private", "--subnet-range",
        "10.9.0.0/24", "x", check=False,
    )  # fmt: skip
    assert subnet.returncode == 1


def test_member_cannot_set_provider_attributes(cloud: Cloud) -> None:
    result = cloud.openstack(
        "demo", "network", "create", "--provider-network-type", "vlan",
        "--provider-physical-network", "physnet1", "e2e-denied", check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "403" in result.stderr


def test_operator_adds_a_tenant(cloud: Cloud) -> None:
    cloud.json("admin", "project", "create", "e2e-acme")
    cloud.json("admin", "user", "create", "--project", "e2e-acme", "--password", "acme-pass-1",
               "e2e-alice")  # fmt: skip
    cloud.openstack("admin", "role", "add", "--project", "e2e-acme", "--user", "e2e-alice",
                    "member")  # fmt: skip
    users = cloud.json("admin", "user", "list")
    assert "e2e-alice" in {u["Name"] for u in users}
