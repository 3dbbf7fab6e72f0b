"""Nova flavors: create, list, show, delete, extra specs and private flavor access."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.functional.api.conftest import Api
from vfplane.domain.alias import parse_aliases

FLAVORS = "/compute/v2.1/flavors"
V261 = {"OpenStack-API-Version": "compute 2.61", "X-OpenStack-Nova-API-Version": "2.61"}
ALIASES = [
    '{"name": "a1", "vendor_id": "8086", "product_id": "154c", "device_type": "type-VF"}',
    '{"name": "gpu", "vendor_id": "10de", "product_id": "1eb8"}',
]


@pytest.fixture
def aliased(api: Api) -> Api:
    """The API with [pci] alias a1 and gpu configured."""
    api.deps.aliases = parse_aliases(ALIASES)
    return api


def osc_body(flavor_name: str, **extra: Any) -> dict[str, Any]:
    """What ``openstack flavor create --vcpus 1 --ram 512 --disk 1 <name>`` sends."""
    flavor = {"name": flavor_name, "ram": 512, "vcpus": 1, "disk": 1, "id": None, "swap": 0,
              "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": True}  # fmt: skip
    flavor.update(extra)
    return {"flavor": flavor}


def create(api: Api, name: str, **extra: Any) -> dict[str, Any]:
    response = api.post("admin", FLAVORS, osc_body(name, **extra), headers=V261)
    assert response.status_code == 200, response.text
    flavor: dict[str, Any] = response.json()["flavor"]
    return flavor


def set_specs(api: Api, flavor_id: str, specs: dict[str, Any]) -> httpx.Response:
    return api.post("admin", f"{FLAVORS}/{flavor_id}/os-extra_specs", {"extra_specs": specs})


def test_create_generates_an_id_and_answers_the_detailed_flavor(api: Api) -> None:
    flavor = create(api, "f1")
    assert len(flavor["id"]) == 36
    assert flavor["name"] == "f1"
    assert (flavor["vcpus"], flavor["ram"], flavor["disk"], flavor["swap"]) == (1, 512, 1, "")
    assert flavor["OS-FLV-EXT-DATA:ephemeral"] == 0
    assert flavor["OS-FLV-DISABLED:disabled"] is False
    assert flavor["os-flavor-access:is_public"] is True
    assert flavor["rxtx_factor"] == 1.0
    assert flavor["extra_specs"] == {}
    assert flavor["description"] is None
    self_link = {"rel": "self", "href": f"http://testserver{FLAVORS}/{flavor['id']}"}
    assert self_link in flavor["links"]


def test_create_with_a_chosen_id(api: Api) -> None:
    flavor = create(api, "small", id="m1.small")
    assert flavor["id"] == "m1.small"
    assert api.get("demo", f"{FLAVORS}/m1.small").json()["flavor"]["name"] == "small"


def test_duplicate_name_or_id_is_409(api: Api) -> None:
    create(api, "f1", id="x1")
    again = api.post("admin", FLAVORS, osc_body("f1"))
    assert again.status_code == 409
    assert again.json()["conflictingRequest"]["message"] == "Flavor with name f1 already exists."
    same_id = api.post("admin", FLAVORS, osc_body("f2", id="x1"))
    assert same_id.status_code == 409
    assert "Flavor with ID x1 already exists." in same_id.text


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("name", "", "name"),
        ("name", " padded", "name"),
        ("vcpus", 0, "vcpus"),
        ("ram", 0, "ram"),
        ("disk", -1, "disk"),
        ("swap", -1, "swap"),
        ("id", "bad/id", "id"),
        ("vcpus", "many", "vcpus"),
        ("unknown", 1, "Unrecognized attribute"),
    ],
)
def test_create_validates(api: Api, field: str, value: Any, words: str) -> None:
    response = api.post("admin", FLAVORS, osc_body("f1", **{field: value}))
    assert response.status_code == 400
    assert words in response.json()["badRequest"]["message"]


def test_members_cannot_create_or_delete(api: Api) -> None:
    denied = api.post("demo", FLAVORS, osc_body("f1"))
    assert denied.status_code == 403
    assert "forbidden" in denied.json()
    flavor = create(api, "f1")
    assert api.delete("demo", f"{FLAVORS}/{flavor['id']}").status_code == 403


def test_delete_answers_202(api: Api) -> None:
    flavor = create(api, "f1")
    assert api.delete("admin", f"{FLAVORS}/{flavor['id']}").status_code == 202
    assert api.get("admin", f"{FLAVORS}/{flavor['id']}").status_code == 404
    assert api.delete("admin", f"{FLAVORS}/{flavor['id']}").status_code == 404


def test_show_by_name_is_404_so_clients_fall_back_to_listing(api: Api) -> None:
    create(api, "f1")
    assert api.get("admin", f"{FLAVORS}/f1").status_code == 404
    listed = api.get("admin", f"{FLAVORS}/detail", params={"is_public": "None"}).json()
    assert [f["name"] for f in listed["flavors"]] == ["f1"]


def test_lists_summary_and_detail(api: Api) -> None:
    create(api, "big", ram=4096)
    create(api, "small", ram=512)
    summary = api.get("demo", FLAVORS).json()["flavors"]
    assert [f["name"] for f in summary] == ["small", "big"]
    assert set(summary[0]) == {"id", "name", "links"}
    detail = api.get("demo", f"{FLAVORS}/detail", params={"is_public": "True"}).json()
    assert [f["ram"] for f in detail["flavors"]] == [512, 4096]
    assert "extra_specs" not in detail["flavors"][0]
    at_261 = api.get("demo", f"{FLAVORS}/detail", headers=V261).json()["flavors"]
    assert at_261[0]["extra_specs"] == {}
    filtered = api.get("demo", f"{FLAVORS}/detail", params={"minRam": 1024}).json()
    assert [f["name"] for f in filtered["flavors"]] == ["big"]


def test_below_275_zero_swap_is_an_empty_string(api: Api) -> None:
    flavor = create(api, "f1")
    old = api.get("demo", f"{FLAVORS}/{flavor['id']}").json()["flavor"]
    assert old["swap"] == ""
    new = api.get("demo", f"{FLAVORS}/{flavor['id']}",
                  headers={"OpenStack-API-Version": "compute 2.75"}).json()["flavor"]  # fmt: skip
    assert new["swap"] == 0


def test_pagination(api: Api) -> None:
    for index in range(3):
        create(api, f"f{index}", ram=512 * (index + 1))
    first = api.get("demo", FLAVORS, params={"limit": 2}).json()
    assert [f["name"] for f in first["flavors"]] == ["f0", "f1"]
    next_href = first["flavors_links"][0]["href"]
    second = api.get("demo", next_href.removeprefix("http://testserver")).json()
    assert [f["name"] for f in second["flavors"]] == ["f2"]
    assert "flavors_links" not in second


def test_is_public_filter(api: Api) -> None:
    create(api, "pub")
    create(api, "priv", **{"os-flavor-access:is_public": False})

    def names(who: str, is_public: str | None) -> list[str]:
        params = {} if is_public is None else {"is_public": is_public}
        body = api.get(who, f"{FLAVORS}/detail", params=params).json()
        return sorted(f["name"] for f in body["flavors"])

    assert names("admin", None) == ["pub"]
    assert names("admin", "None") == ["priv", "pub"]
    assert names("admin", "none") == ["priv", "pub"]
    assert names("admin", "False") == ["priv"]
    assert names("demo", "None") == ["pub"]
    bad = api.get("admin", f"{FLAVORS}/detail", params={"is_public": "maybe"})
    assert bad.status_code == 400
    assert bad.json()["badRequest"]["message"] == "Invalid is_public filter [maybe]"


def test_private_flavors_are_visible_to_admins_and_projects_with_access(api: Api) -> None:
    flavor = create(api, "priv", **{"os-flavor-access:is_public": False})
    path = f"{FLAVORS}/{flavor['id']}"
    assert api.get("demo", path).status_code == 404
    demo = api.project_of("demo")
    added = api.post("admin", f"{path}/action", {"addTenantAccess": {"tenant": demo}})
    assert added.status_code == 200
    assert added.json() == {"flavor_access": [{"flavor_id": flavor["id"], "tenant_id": demo}]}
    assert api.get("demo", path).status_code == 200
    assert api.get("other", path).status_code == 404
    listed = api.get("demo", f"{FLAVORS}/detail", params={"is_public": "None"}).json()
    assert [f["name"] for f in listed["flavors"]] == ["priv"]
    access = api.get("demo", f"{path}/os-flavor-access").json()
    assert access["flavor_access"] == [{"flavor_id": flavor["id"], "tenant_id": demo}]
    again = api.post("admin", f"{path}/action", {"addTenantAccess": {"tenant": demo}})
    assert again.status_code == 409
    removed = api.post("admin", f"{path}/action", {"removeTenantAccess": {"tenant": demo}})
    assert removed.json() == {"flavor_access": []}
    assert api.get("demo", path).status_code == 404


def test_access_list_of_a_public_flavor_is_404(api: Api) -> None:
    flavor = create(api, "pub")
    response = api.get("admin", f"{FLAVORS}/{flavor['id']}/os-flavor-access")
    assert response.status_code == 404
    assert "public flavors" in response.json()["itemNotFound"]["message"]
    denied = api.post("admin", f"{FLAVORS}/{flavor['id']}/action",
                      {"addTenantAccess": {"tenant": "p"}})  # fmt: skip
    assert denied.status_code == 409


def test_extra_specs_set_merge_show_and_delete(aliased: Api) -> None:
    api = aliased
    flavor = create(api, "f1")
    specs_path = f"{FLAVORS}/{flavor['id']}/os-extra_specs"
    assert api.get("demo", specs_path).json() == {"extra_specs": {}}
    response = set_specs(api, flavor["id"], {"pci_passthrough:alias": "a1:1"})
    assert response.status_code == 200
    assert response.json() == {"extra_specs": {"pci_passthrough:alias": "a1:1"}}
    set_specs(api, flavor["id"], {"hw:pci_numa_affinity_policy": "preferred", "hw:cpu": 2})
    expected = {"pci_passthrough:alias": "a1:1", "hw:pci_numa_affinity_policy": "preferred",
                "hw:cpu": "2"}  # fmt: skip
    assert api.get("demo", specs_path).json() == {"extra_specs": expected}
    shown = api.get("demo", f"{FLAVORS}/{flavor['id']}", headers=V261).json()["flavor"]
    assert shown["extra_specs"] == expected
    put = api.put("admin", f"{specs_path}/pci_passthrough:alias",
                  {"pci_passthrough:alias": "a1:2, gpu:1"})  # fmt: skip
    assert put.json() == {"pci_passthrough:alias": "a1:2, gpu:1"}
    one = api.get("demo", f"{specs_path}/pci_passthrough:alias").json()
    assert one == {"pci_passthrough:alias": "a1:2, gpu:1"}
    assert api.delete("admin", f"{specs_path}/hw:cpu").status_code == 200
    assert "hw:cpu" not in api.get("demo", specs_path).json()["extra_specs"]
    assert api.delete("admin", f"{specs_path}/hw:cpu").status_code == 404
    assert api.get("demo", f"{specs_path}/hw:cpu").status_code == 404


def test_put_body_must_match_the_key(aliased: Api) -> None:
    flavor = create(aliased, "f1")
    path = f"{FLAVORS}/{flavor['id']}/os-extra_specs/hw:a"
    mismatch = aliased.put("admin", path, {"hw:b": "1"})
    assert mismatch.status_code == 400
    assert "mismatch" in mismatch.json()["badRequest"]["message"]
    too_many = aliased.put("admin", path, {"hw:a": "1", "hw:b": "2"})
    assert too_many.status_code == 400


@pytest.mark.parametrize(
    ("specs", "words"),
    [
        ({"pci_passthrough:alias": "nope:1"}, "PCI alias nope is not defined (defined aliases: a1"),
        ({"pci_passthrough:alias": "a1:1, nope:2"}, "PCI alias nope is not defined"),
        ({"pci_passthrough:alias": "a1"}, "<alias>:<count>"),
        ({"pci_passthrough:alias": "a1:x"}, "<alias>:<count>"),
        ({"pci_passthrough:alias": "a1:0"}, "at least 1"),
        ({"hw:pci_numa_affinity_policy": "sometimes"}, "not one of required, legacy"),
        ({"bad/key": "1"}, "Key 'bad/key'"),
        ({"hw:long": "x" * 256}, "longer than 255"),
    ],
)
def test_invalid_extra_specs_are_400(aliased: Api, specs: dict[str, str], words: str) -> None:
    flavor = create(aliased, "f1")
    response = set_specs(aliased, flavor["id"], specs)
    assert response.status_code == 400
    assert words in response.json()["badRequest"]["message"]
    assert aliased.get("admin", f"{FLAVORS}/{flavor['id']}/os-extra_specs").json() == {
        "extra_specs": {}
    }


def test_without_configured_aliases_every_alias_is_unknown(api: Api) -> None:
    flavor = create(api, "f1")
    response = set_specs(api, flavor["id"], {"pci_passthrough:alias": "a1:1"})
    assert response.status_code == 400
    assert "see [pci] alias" in response.json()["badRequest"]["message"]


def test_members_cannot_change_extra_specs(aliased: Api) -> None:
    flavor = create(aliased, "f1")
    response = aliased.post("demo", f"{FLAVORS}/{flavor['id']}/os-extra_specs",
                            {"extra_specs": {"hw:a": "1"}})  # fmt: skip
    assert response.status_code == 403
    path = f"{FLAVORS}/{flavor['id']}/os-extra_specs/hw:a"
    assert aliased.put("demo", path, {"hw:a": "1"}).status_code == 403
    set_specs(aliased, flavor["id"], {"hw:a": "1"})
    assert aliased.delete("demo", path).status_code == 403


def test_flavor_deletion_removes_its_extra_specs(aliased: Api) -> None:
    flavor = create(aliased, "f1")
    set_specs(aliased, flavor["id"], {"pci_passthrough:alias": "a1:1"})
    aliased.delete("admin", f"{FLAVORS}/{flavor['id']}")
    again = create(aliased, "f1", id=flavor["id"])
    assert again["extra_specs"] == {}
