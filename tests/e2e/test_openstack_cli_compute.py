"""Acceptance: flavors, extra specs and images through the real openstack CLI."""

from __future__ import annotations

from tests.e2e.conftest import Cloud


def test_flavor_lifecycle_with_a_pci_alias(cloud: Cloud) -> None:
    created = cloud.json("admin", "flavor", "create", "--vcpus", "1", "--ram", "512", "--disk",
                         "1", "e2e-f1")  # fmt: skip
    assert (created["vcpus"], created["ram"], created["disk"]) == (1, 512, 1)
    assert created["os-flavor-access:is_public"] is True
    cloud.openstack("admin", "flavor", "set", "--property", "pci_passthrough:alias=a1:1",
                    "--property", "hw:pci_numa_affinity_policy=preferred", "e2e-f1")  # fmt: skip
    shown = cloud.json("admin", "flavor", "show", "e2e-f1")
    assert shown["id"] == created["id"]
    assert shown["properties"] == {
        "pci_passthrough:alias": "a1:1",
        "hw:pci_numa_affinity_policy": "preferred",
    }
    as_member = cloud.json("demo", "flavor", "show", created["id"])
    assert as_member["name"] == "e2e-f1"
    listed = cloud.json("demo", "flavor", "list")
    assert {"ID": created["id"], "Name": "e2e-f1"}.items() <= next(
        f for f in listed if f["Name"] == "e2e-f1"
    ).items()
    cloud.openstack("admin", "flavor", "delete", "e2e-f1")
    gone = cloud.openstack("admin", "flavor", "show", "e2e-f1", check=False)
    assert gone.returncode == 1
    assert "No Flavor found for e2e-f1" in gone.stderr


def test_invalid_extra_specs_are_refused_with_a_message(cloud: Cloud) -> None:
    cloud.json("admin", "flavor", "create", "--vcpus", "1", "--ram", "256", "e2e-f2")
    unknown = cloud.openstack("admin", "flavor", "set", "--property",
                              "pci_passthrough:alias=nope:1", "e2e-f2", check=False)  # fmt: skip
    assert unknown.returncode == 1
    assert "BadRequestException: 400" in unknown.stderr
    assert "PCI alias nope is not defined (defined aliases: a1)" in unknown.stderr
    policy = cloud.openstack("admin", "flavor", "set", "--property",
                             "hw:pci_numa_affinity_policy=sometimes", "e2e-f2",
                             check=False)  # fmt: skip
    assert policy.returncode == 1
    assert "is not one of required, legacy, preferred, socket" in policy.stderr
    assert cloud.json("admin", "flavor", "show", "e2e-f2")["properties"] == {}


def test_members_cannot_create_flavors(cloud: Cloud) -> None:
    result = cloud.openstack("demo", "flavor", "create", "--vcpus", "1", "--ram", "64",
                             "e2e-denied", check=False)  # fmt: skip
    assert result.returncode == 1
    assert "403" in result.stderr


def test_private_flavor_for_one_project(cloud: Cloud) -> None:
    cloud.json("admin", "flavor", "create", "--vcpus", "1", "--ram", "128", "--private",
               "--project", "demo", "e2e-private")  # fmt: skip
    assert cloud.json("demo", "flavor", "show", "e2e-private")["name"] == "e2e-private"
    hidden = cloud.openstack("other", "flavor", "show", "e2e-private", check=False)
    assert hidden.returncode == 1
    assert "No Flavor found" in hidden.stderr


def test_default_image_is_registered_for_everyone(cloud: Cloud) -> None:
    for user in ("admin", "demo", "other"):
        images = cloud.json(user, "image", "list")
        assert {"Name": "cirros-0.6.2", "Status": "active"}.items() <= next(
            i for i in images if i["Name"] == "cirros-0.6.2"
        ).items()
    shown = cloud.json("demo", "image", "show", "cirros-0.6.2")
    assert (shown["visibility"], shown["disk_format"]) == ("public", "qcow2")


def test_image_create_show_set_and_delete(cloud: Cloud) -> None:
    created = cloud.json("demo", "image", "create", "--disk-format", "qcow2", "--container-format",
                         "bare", "--property", "location=/var/lib/images/x.qcow2",
                         "e2e-img1")  # fmt: skip
    assert created["status"] == "active"
    assert created["properties"]["location"] == "/var/lib/images/x.qcow2"
    cloud.openstack("demo", "image", "set", "--property", "hw_vif_model=virtio", "e2e-img1")
    shown = cloud.json("demo", "image", "show", "e2e-img1")
    assert shown["id"] == created["id"]
    assert shown["properties"]["hw_vif_model"] == "virtio"
    assert "e2e-img1" in {i["Name"] for i in cloud.json("demo", "image", "list")}
    assert "e2e-img1" not in {i["Name"] for i in cloud.json("other", "image", "list")}
    cloud.openstack("demo", "image", "delete", "e2e-img1")
    gone = cloud.openstack("demo", "image", "show", "e2e-img1", check=False)
    assert gone.returncode == 1
    assert "No Image found for e2e-img1" in gone.stderr


def test_server_event_show_by_request_id(cloud: Cloud) -> None:
    cloud.json("admin", "flavor", "create", "--vcpus", "1", "--ram", "64", "e2e-ev")
    server = cloud.json("demo", "server", "create", "--flavor", "e2e-ev", "--image",
                        "cirros-0.6.2", "--nic", "none", "e2e-ev")  # fmt: skip
    try:
        listed = cloud.json("demo", "server", "event", "list", server["id"])
        request_id = next(e["Request ID"] for e in listed if e["Action"] == "create")
        shown = cloud.json("demo", "server", "event", "show", server["id"], request_id)
        assert (shown["action"], shown["request_id"]) == ("create", request_id)
        assert shown["events"] == []
        unknown = cloud.openstack("demo", "server", "event", "show", server["id"], "req-nope",
                                  check=False)  # fmt: skip
        assert unknown.returncode == 1
        assert "Action req-nope not found" in unknown.stderr
    finally:
        cloud.openstack("demo", "server", "delete", server["id"])
        cloud.openstack("admin", "flavor", "delete", "e2e-ev")
