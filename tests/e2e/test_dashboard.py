"""The topology page at ``/ui`` in headless Chromium (Debian's chromium and chromium-driver,
driven by Selenium) against ``vfplane up``: logging in, the physnet groups and their
capacity, VFs coloured by state after a boot, a VF's detail, and a no-valid-host boot in the
events list. Screenshots go to ``$VFPLANE_SCREENSHOTS``, else to the test's temporary dir."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.test_vfplane_up import Cluster, cluster, eventually

__all__ = ["cluster"]  # the module-scoped fixture: this module gets its own cluster

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT_S = 20.0
STATES = ("free", "claimed", "allocated", "unavailable")
CHROME_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1440,1100",
    "--disable-extensions",
)

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, chromedriver)",
)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("VFPLANE_SCREENSHOTS")
    where = Path(given) if given else tmp_path_factory.mktemp("screenshots")
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = CHROMIUM
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _password(cluster: Cluster, name: str) -> dict[str, str]:
    clouds = yaml.safe_load((cluster.data_dir / "clouds.yaml").read_text())["clouds"]
    auth: dict[str, str] = clouds[f"vfplane-{name}"]["auth"]
    return auth


def _wait(browser: WebDriver, check: Any, what: str) -> Any:
    def attempt(driver: WebDriver) -> Any:
        try:
            return check(driver)
        except (StaleElementReferenceException, NoSuchElementException):
            return None  # not drawn yet, or drawn again meanwhile: look again

    return WebDriverWait(browser, WAIT_S).until(attempt, f"waiting for {what}")


def _visible(browser: WebDriver, css: str) -> WebElement:
    found: WebElement = _wait(
        browser, lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css)
                                 if e.is_displayed()), None), css)  # fmt: skip
    return found


def _log_in(browser: WebDriver, user: str, password: str, project: str) -> None:
    for field, value in (("username", user), ("password", password), ("project", project)):
        box = _visible(browser, f"#{field}")
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "login-button").click()


def _at_least(browser: WebDriver, css: str, count: int) -> list[WebElement] | None:
    found = browser.find_elements(By.CSS_SELECTOR, css)
    return found if len(found) >= count else None


def _log_out(browser: WebDriver) -> None:
    _visible(browser, "#logout").click()
    _visible(browser, "#login-form")


def test_login_errors_then_an_admin_sees_the_physnets(
    cluster: Cluster, browser: WebDriver, shots: Path
) -> None:
    browser.get(f"{cluster.url}/ui")
    admin = _password(cluster, "admin")
    _log_in(browser, admin["username"], "not-the-password", admin["project_name"])
    error = _visible(browser, "#login-error")
    assert "wrong user name, password or project" in error.text
    browser.save_screenshot(str(shots / "dashboard-login-error.png"))

    demo = _password(cluster, "demo")
    _log_in(browser, demo["username"], demo["password"], demo["project_name"])
    assert "needs the admin role" in _visible(browser, "#problem").text
    browser.save_screenshot(str(shots / "dashboard-needs-admin.png"))
    _log_out(browser)

    _log_in(browser, admin["username"], admin["password"], admin["project_name"])
    _visible(browser, "#dashboard")
    groups = _wait(browser, lambda d: _at_least(d, ".physnet", 2), "the physnet groups")
    assert [g.get_attribute("data-physnet") for g in groups] == ["physnet1", "physnet2"]
    assert not browser.find_element(By.ID, "login").is_displayed()


def _counts_on_page(browser: WebDriver, physnet: str) -> dict[str, int]:
    section = browser.find_element(By.CSS_SELECTOR, f'.physnet[data-physnet="{physnet}"]')
    return {state: int(section.find_element(By.CSS_SELECTOR, f'.count[data-state="{state}"]').text)
            for state in (*STATES, "total")}  # fmt: skip


def test_capacity_per_physnet_matches_the_api(cluster: Cluster, browser: WebDriver) -> None:
    summary = cluster.admin.call("GET", "/v1/dashboard/summary")["physnets"]
    for entry in summary:
        wanted = {state: entry[state] for state in (*STATES, "total")}
        assert wanted["total"] > 0
        _wait(browser, lambda d, p=entry["physnet"], w=wanted: _counts_on_page(d, p) == w,
              f"the counts of {entry['physnet']}")  # fmt: skip
        section = browser.find_element(
            By.CSS_SELECTOR, f'.physnet[data-physnet="{entry["physnet"]}"]'
        )
        hosts = section.find_elements(By.CSS_SELECTOR, ".host")
        assert len(hosts) == entry["hosts"] == 3
    segments = browser.find_elements(By.CSS_SELECTOR, ".physnet .capacity-bar .seg.free")
    assert all(s.size["width"] > 0 for s in segments)


def _boot(cluster: Cluster, name: str, network: dict[str, Any]) -> tuple[dict[str, Any], str]:
    body = {"network": {"name": name, **network}}
    network_id = cluster.admin.call("POST", "/network/v2.0/networks", json=body)["network"]["id"]
    body = {"port": {"network_id": network_id, "binding:vnic_type": "direct", "name": name}}
    port = cluster.admin.call("POST", "/network/v2.0/ports", json=body)["port"]
    flavor = {"flavor": {"name": name, "vcpus": 1, "ram": 512, "disk": 1, "id": None}}
    flavor_id = cluster.admin.call("POST", "/compute/v2.1/flavors", json=flavor)["flavor"]["id"]
    server = {"server": {"name": name, "flavorRef": flavor_id, "networks": [{"port": port["id"]}]}}
    server_id = cluster.admin.call("POST", "/compute/v2.1/servers", json=server)["server"]["id"]
    shown = cluster.admin.call("GET", f"/compute/v2.1/servers/{server_id}")["server"]
    return shown, port["id"]


def _vf(browser: WebDriver, host: str, address: str) -> WebElement:
    found: WebElement = browser.find_element(
        By.CSS_SELECTOR, f'.physnet[data-physnet="physnet1"] .host[data-host="{host}"] '
        f'button.vf[data-address="{address}"]')  # fmt: skip
    return found


def test_a_boot_colours_its_vf_and_the_detail_names_port_and_server(
    cluster: Cluster, browser: WebDriver, shots: Path
) -> None:
    vlan = {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": 150}  # fmt: skip
    server, port_id = _boot(cluster, "ui-vm", vlan)
    port = eventually(lambda: (p := cluster.port(port_id))["binding:profile"].get("pci_slot")
                      and p, what="the port bound to a VF")  # fmt: skip
    host, slot = port["binding:host_id"], port["binding:profile"]["pci_slot"]
    cluster.wait_status(port_id, "ACTIVE")  # the agent configured the VF (its original saved)

    square = _wait(browser, lambda d: "allocated" in _vf(d, host, slot).get_attribute("class")
                   and _vf(d, host, slot), "the booted VF coloured allocated")  # fmt: skip
    assert square.get_attribute("data-state") == "allocated"
    free = browser.find_elements(
        By.CSS_SELECTOR, '.physnet[data-physnet="physnet1"] button.vf.free'
    )
    assert free, "the other VFs are free"
    colours = {e.value_of_css_property("background-color") for e in (square, free[0])}
    assert len(colours) == 2  # the two states are drawn differently

    square.click()
    _visible(browser, "#detail")
    _wait(browser, lambda d: d.find_element(By.ID, "detail-port").text == port_id, "the port")
    assert server["id"] in browser.find_element(By.ID, "detail-server").text
    assert "ui-vm" in browser.find_element(By.ID, "detail-server").text
    assert browser.find_element(By.ID, "detail-mac").text == port["mac_address"]
    assert browser.find_element(By.ID, "detail-vlan").text == "150"
    assert browser.find_element(By.ID, "detail-address").text == slot
    _wait(browser, lambda d: port_id in d.find_element(By.ID, "detail-original").text,
          "the original the agent saved")  # fmt: skip
    assert '"config"' in browser.find_element(By.ID, "detail-original").text
    browser.save_screenshot(str(shots / "dashboard-map.png"))


def test_a_boot_without_a_valid_host_is_listed_with_its_explanation(
    cluster: Cluster, browser: WebDriver, shots: Path
) -> None:
    flat = {"provider:network_type": "flat", "provider:physical_network": "physnet3"}
    server, _ = _boot(cluster, "ui-far-vm", flat)
    assert server["status"] == "ERROR"
    selector = '#event-list li.event[data-kind="no_valid_host"]'

    def listed(driver: WebDriver) -> WebElement | None:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        return next((e for e in found if server["id"] in e.text), None)

    item = _wait(browser, listed, "the event")
    assert "No valid host was found" in item.text
    reasons = [li.text for li in item.find_elements(By.CSS_SELECTOR, ".explanation li")]
    assert sorted(r.split(":")[0] for r in reasons) == ["compute-1", "compute-2", "compute-3"]
    assert all("physnet3" in r for r in reasons), reasons
    browser.save_screenshot(str(shots / "dashboard-events.png"))


def test_a_token_the_server_refuses_returns_to_the_login_form(browser: WebDriver) -> None:
    browser.execute_script("window.sessionStorage.setItem('vfplane.token', 'revoked-token')")
    message = _visible(browser, "#login-error").text
    assert "Your session has ended" in message
    assert not browser.find_element(By.ID, "dashboard").is_displayed()
