"""Glance v2: discovery, image records with a location, visibility, JSON patch."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from tests.functional.api.conftest import Api, Database
from vfplane.service.images import DEFAULT_IMAGE_NAME, ensure_default_image

IMAGES = "/image/v2/images"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def create(api: Api, who: str, name: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "disk_format": "qcow2", "container_format": "bare", **extra}
    response = api.post(who, IMAGES, body)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


def patch(api: Api, who: str, image_id: str, operations: list[dict[str, Any]]) -> httpx.Response:
    return api.call(who, "PATCH", f"{IMAGES}/{image_id}", json=operations, headers=PATCH)


def names(api: Api, who: str, **params: str) -> list[str]:
    body = api.get(who, IMAGES, params=params).json()
    return sorted(i["name"] for i in body["images"])


@pytest.mark.parametrize("path", ["/image", "/image/", "/image/v2", "/image/v2/"])
def test_discovery_is_anonymous_and_answers_300(api: Api, path: str) -> None:
    response = api.get(None, path)
    assert response.status_code == 300
    [version] = response.json()["versions"]
    assert version["status"] == "CURRENT"
    assert version["links"] == [{"rel": "self", "href": "http://testserver/image/v2/"}]


def test_create_with_a_location_is_active_and_glance_shaped(api: Api) -> None:
    image = create(api, "demo", "img1", location="/var/lib/images/x.qcow2",
                   **{"owner_specified.openstack.md5": "", "os_distro": "ubuntu"})  # fmt: skip
    assert image["status"] == "active"
    assert image["visibility"] == "shared"
    assert image["owner"] == api.project_of("demo")
    assert image["location"] == "/var/lib/images/x.qcow2"
    assert image["os_distro"] == "ubuntu"
    assert image["owner_specified.openstack.md5"] == ""
    assert image["self"] == f"/v2/images/{image['id']}"
    assert image["file"] == f"/v2/images/{image['id']}/file"
    assert image["schema"] == "/v2/schemas/image"
    assert (image["min_disk"], image["min_ram"], image["tags"]) == (0, 0, [])
    assert image["protected"] is False
    shown = api.get("demo", f"{IMAGES}/{image['id']}").json()
    assert shown == image


def test_create_without_a_location_is_queued(api: Api) -> None:
    assert create(api, "demo", "empty")["status"] == "queued"


def test_create_with_an_id_tags_and_minimums(api: Api) -> None:
    image_id = str(uuid.uuid4())
    image = create(api, "demo", "x", id=image_id, tags=["a", "b", "a"], min_disk=2, min_ram=64)
    assert image["id"] == image_id
    assert image["tags"] == ["a", "b"]
    assert (image["min_disk"], image["min_ram"]) == (2, 64)
    again = api.post("demo", IMAGES, {"name": "y", "id": image_id})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"disk_format": "floppy"}, 400, "disk_format"),
        ({"container_format": "box"}, 400, "container_format"),
        ({"visibility": "everyone"}, 400, "visibility"),
        ({"id": "not-a-uuid"}, 400, "UUID"),
        ({"min_ram": -1}, 400, "min_ram"),
        ({"status": "active"}, 403, "Attribute 'status' is read-only."),
        ({"size": 3}, 403, "read-only"),
        ({"os_distro": 7}, 400, "must be a string"),
        ({"visibility": "public"}, 403, "publicize_image"),
        ({"owner": "someone-else"}, 403, "another project"),
        ({"location": " "}, 400, "location"),
    ],
)
def test_create_validates(api: Api, body: dict[str, Any], status: int, words: str) -> None:
    response = api.post("demo", IMAGES, {"name": "bad", **body})
    assert response.status_code == status
    assert words in response.json()["error"]["message"]


def test_readers_cannot_create(api: Api) -> None:
    assert api.post("reader", IMAGES, {"name": "x"}).status_code == 403


def test_visibility(api: Api) -> None:
    public = create(api, "admin", "public", visibility="public")
    private = create(api, "demo", "private", visibility="private")
    create(api, "demo", "shared")
    community = create(api, "other", "community", visibility="community")
    assert names(api, "demo") == ["private", "public", "shared"]
    assert names(api, "other") == ["community", "public"]
    assert names(api, "admin") == ["community", "private", "public", "shared"]
    assert names(api, "demo", visibility="community") == ["community"]
    assert names(api, "demo", visibility="private") == ["private"]
    assert names(api, "demo", visibility="all") == ["community", "private", "public", "shared"]
    assert api.get("other", f"{IMAGES}/{private['id']}").status_code == 404
    assert api.get("demo", f"{IMAGES}/{community['id']}").status_code == 200
    assert api.get("admin", f"{IMAGES}/{private['id']}").status_code == 200
    not_owner = api.get("demo", f"{IMAGES}/{public['id']}").json()
    assert "location" not in not_owner


def test_filters(api: Api) -> None:
    one = create(api, "demo", "one", location="/x")
    two = create(api, "demo", "two")
    create(api, "demo", "three", location="/y")
    assert names(api, "demo", name="two") == ["two"]
    assert names(api, "demo", id=f"in:{one['id']},{two['id']}") == ["one", "two"]
    assert names(api, "demo", id=two["id"]) == ["two"]
    assert names(api, "demo", status="queued") == ["two"]
    assert names(api, "demo", name='in:"one","three"') == ["one", "three"]
    body = api.get("demo", IMAGES).json()
    assert body["first"] == "/v2/images"
    assert body["schema"] == "/v2/schemas/images"
    assert "next" not in body


def test_pagination(api: Api) -> None:
    for name in ("a", "b", "c"):
        create(api, "demo", name)
    first = api.get("demo", IMAGES, params={"limit": 2}).json()
    assert len(first["images"]) == 2
    second = api.get("demo", "/image" + first["next"]).json()
    assert len(second["images"]) == 1
    assert "next" not in second


def test_show_by_name_is_404(api: Api) -> None:
    create(api, "demo", "img1")
    response = api.get("demo", f"{IMAGES}/img1")
    assert response.status_code == 404
    assert "message" in response.json()["error"]


def test_patch_name_and_properties(api: Api) -> None:
    image = create(api, "demo", "img1", os_distro="ubuntu")
    response = patch(api, "demo", image["id"], [
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "add", "path": "/hw_vif_model", "value": "virtio"},
        {"op": "replace", "path": "/os_distro", "value": "debian"},
        {"op": "add", "path": "/location", "value": "/images/renamed.qcow2"},
    ])  # fmt: skip
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["name"] == "renamed"
    assert patched["hw_vif_model"] == "virtio"
    assert patched["os_distro"] == "debian"
    assert patched["status"] == "active"
    removed = patch(api, "demo", image["id"], [{"op": "remove", "path": "/os_distro"}]).json()
    assert "os_distro" not in removed
    assert removed["hw_vif_model"] == "virtio"


@pytest.mark.parametrize(
    ("operations", "status"),
    [
        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
        ([{"op": "replace", "path": "/missing", "value": "x"}], 409),
        ([{"op": "remove", "path": "/missing"}], 409),
        ([{"op": "move", "path": "/name", "value": "x"}], 400),
        ([{"op": "replace", "path": "/a/b", "value": "x"}], 400),
        ([{"op": "replace", "path": "/name"}], 400),
        ([{"op": "replace", "path": "/visibility", "value": "public"}], 403),
        ([{"op": "add", "path": "/hw", "value": 3}], 400),
        ({"op": "add"}, 400),
    ],
)
def test_patch_is_checked_and_all_or_nothing(api: Api, operations: Any, status: int) -> None:
    image = create(api, "demo", "img1")
    body = operations if isinstance(operations, dict) else [
        {"op": "replace", "path": "/name", "value": "changed"}, *operations
    ]  # fmt: skip
    response = patch(api, "demo", image["id"], body)
    assert response.status_code == status, response.text
    assert api.get("demo", f"{IMAGES}/{image['id']}").json()["name"] == "img1"


def test_patch_needs_the_json_patch_media_type(api: Api) -> None:
    image = create(api, "demo", "img1")
    response = api.call("demo", "PATCH", f"{IMAGES}/{image['id']}",
                        json=[{"op": "replace", "path": "/name", "value": "x"}])  # fmt: skip
    assert response.status_code == 415


def test_only_the_owner_or_an_admin_changes_or_deletes(api: Api) -> None:
    image = create(api, "demo", "img1", visibility="community")
    rename = [{"op": "replace", "path": "/name", "value": "x"}]
    assert patch(api, "other", image["id"], rename).status_code == 403
    assert api.delete("other", f"{IMAGES}/{image['id']}").status_code == 403
    assert patch(api, "admin", image["id"], rename).status_code == 200
    assert api.delete("demo", f"{IMAGES}/{image['id']}").status_code == 204
    assert api.get("demo", f"{IMAGES}/{image['id']}").status_code == 404


def test_protected_images_cannot_be_deleted(api: Api) -> None:
    image = create(api, "demo", "img1", protected=True)
    response = api.delete("demo", f"{IMAGES}/{image['id']}")
    assert response.status_code == 403
    assert "protected" in response.json()["error"]["message"]
    patch(api, "demo", image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert api.delete("demo", f"{IMAGES}/{image['id']}").status_code == 204


def test_upload_is_not_implemented(api: Api) -> None:
    image = create(api, "demo", "img1")
    response = api.call("demo", "PUT", f"{IMAGES}/{image['id']}/file", content=b"data",
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert response.status_code == 501
    assert "location" in response.json()["error"]["message"]


def test_default_image_is_public_and_idempotent(
    api: Api, database: Database, tmp_path: Path
) -> None:
    now = datetime(2026, 1, 1)
    with Session(database.engine) as session:
        first = ensure_default_image(session, now, tmp_path)
        again = ensure_default_image(session, now, tmp_path)
        assert again.id == first.id
    listed = api.get("other", IMAGES, params={"name": DEFAULT_IMAGE_NAME}).json()["images"]
    [image] = listed
    assert (image["status"], image["visibility"]) == ("active", "public")
    assert (image["disk_format"], image["container_format"]) == ("qcow2", "bare")
    assert image["vfplane_placeholder"] == "true"
    admin_view = api.get("admin", f"{IMAGES}/{image['id']}").json()
    assert admin_view["location"] == str(tmp_path / "images" / "cirros-0.6.2-x86_64-disk.img")


def test_an_empty_upload_to_an_image_with_a_location_is_a_no_op(api: Api) -> None:
    """``openstack image create`` uploads a non-terminal stdin even when it is empty."""
    image = create(api, "demo", "img1", location="/images/x.qcow2")
    headers = {"Content-Type": "application/octet-stream", "X-OpenStack-Image-Size": "0"}
    path = f"{IMAGES}/{image['id']}/file"
    assert api.call("demo", "PUT", path, content=b"", headers=headers).status_code == 204
    queued = create(api, "demo", "img2")
    empty = api.call("demo", "PUT", f"{IMAGES}/{queued['id']}/file", content=b"", headers=headers)
    assert empty.status_code == 501
