// vfplane topology dashboard: log in through Keystone v3, then read /v1/dashboard every few
// seconds. Plain DOM (textContent only: nothing from the server is parsed as HTML).
"use strict";

(() => {
  const BASE = window.location.pathname.replace(/\/ui(\/.*)?$/, "");
  const REFRESH_MS = 3000; // or four times as long as the last refresh took, if longer
  const PAGE = 50;
  const MAX_PAGE = 500;
  const AUTO_OPEN = 8; // a physnet with this many hosts or fewer shows them all opened
  const STATES = ["free", "claimed", "allocated", "unavailable"];
  const TOKEN = "vfplane.token";
  const WHO = "vfplane.who";

  const $ = (id) => document.getElementById(id);
  const view = {
    physnets: new Map(), live: false, round: 0, timer: null, busy: false, detail: null, filter: "",
  };

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  async function messageOf(response) {
    try {
      const body = await response.json();
      const inner = body.error || body.NeutronError || Object.values(body)[0] || {};
      return inner.message || body.detail || response.statusText;
    } catch (_) {
      return response.statusText || `HTTP ${response.status}`;
    }
  }

  async function api(path) {
    const headers = { Accept: "application/json" };
    const token = window.sessionStorage.getItem(TOKEN);
    if (token) headers["X-Auth-Token"] = token;
    const response = await fetch(BASE + path, { headers });
    if (!response.ok) throw new HttpError(response.status, await messageOf(response));
    return response.json();
  }

  // --- logging in and out ---------------------------------------------------------------

  function showLogin(message) {
    stop();
    $("dashboard").hidden = true;
    $("session").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("password").value = "";
  }

  async function login(event) {
    event.preventDefault();
    const domain = { id: "default" };
    const body = { auth: {
      identity: { methods: ["password"], password: { user: {
        name: $("username").value, domain, password: $("password").value } } },
      scope: { project: { name: $("project").value, domain } },
    } };
    $("login-button").disabled = true;
    try {
      const response = await fetch(`${BASE}/identity/v3/auth/tokens`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!response.ok) {
        const reason = response.status === 401
          ? "Login failed: wrong user name, password or project."
          : `Login failed: ${await messageOf(response)}`;
        showLogin(reason);
        return;
      }
      const token = (await response.json()).token;
      window.sessionStorage.setItem(TOKEN, response.headers.get("X-Subject-Token"));
      window.sessionStorage.setItem(WHO, `${token.user.name} · ${token.project.name}`);
      start();
    } catch (error) {
      showLogin(`Login failed: the server cannot be reached (${error.message}).`);
    } finally {
      $("login-button").disabled = false;
    }
  }

  async function logout() {
    const token = window.sessionStorage.getItem(TOKEN);
    window.sessionStorage.removeItem(TOKEN);
    window.sessionStorage.removeItem(WHO);
    if (token) {
      const headers = { "X-Auth-Token": token, "X-Subject-Token": token };
      fetch(`${BASE}/identity/v3/auth/tokens`, { method: "DELETE", headers }).catch(() => {});
    }
    showLogin("");
  }

  function start() {
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("session").hidden = false;
    $("content").hidden = false;
    $("whoami").textContent = window.sessionStorage.getItem(WHO) || "";
    view.live = true;
    view.round += 1;
    loop(view.round);
  }

  async function loop(round) {
    const began = Date.now();
    await refresh();
    if (view.live && round === view.round) {
      const wait = Math.max(REFRESH_MS, 4 * (Date.now() - began));
      view.timer = window.setTimeout(() => loop(round), wait);
    }
  }

  function stop() {
    view.live = false;
    window.clearTimeout(view.timer);
    view.timer = null;
    view.physnets.clear();
    view.detail = null;
    $("physnets").replaceChildren();
    $("event-list").replaceChildren();
    $("detail").hidden = true;
  }

  function failed(error) {
    const problem = $("problem");
    if (error.status === 401) {
      window.sessionStorage.removeItem(TOKEN);
      showLogin("Your session has ended (the token expired or was revoked): log in again.");
    } else if (error.status === 403) {
      stop();
      $("content").hidden = true;
      problem.textContent = `${error.message}. Log in as an admin to see the topology.`;
      problem.hidden = false;
    } else {
      problem.textContent = `The dashboard cannot be refreshed: ${error.message}. Retrying.`;
      problem.hidden = false;
    }
  }

  // --- the map ----------------------------------------------------------------------------

  function physnetSection(key, entry) {
    const counts = el("div", { class: "counts" });
    for (const state of [...STATES, "total"]) {
      counts.append(el("span", {}, `${state} `,
        el("span", { class: "count", "data-state": state, text: "0" })));
    }
    const more = el("button", { type: "button", class: "more", text: "More hosts", hidden: true });
    const section = el("section", { class: "physnet", "data-physnet": key },
      el("h2", {}, el("span", { class: "physnet-name", text: key || "no physnet" }), " ",
        el("span", { class: "meta" })),
      el("div", { class: "capacity-bar", role: "img" }),
      counts,
      el("div", { class: "hosts" }),
      more);
    const physnet = { key, section, hosts: new Map(), next: null, closed: new Set(), entry };
    more.addEventListener("click", () => loadHosts(physnet, true).catch(failed));
    return physnet;
  }

  function renderCapacity(physnet, entry) {
    const { section } = physnet;
    physnet.entry = entry;
    section.querySelector(".meta").textContent =
      `${entry.hosts} host${entry.hosts === 1 ? "" : "s"} · ${entry.pfs} PF${entry.pfs === 1 ? "" : "s"}`;
    const bar = section.querySelector(".capacity-bar");
    bar.replaceChildren(...STATES.map((state) => {
      const seg = el("span", { class: `seg ${state}`, title: `${entry[state]} ${state}` });
      seg.style.width = entry.total ? `${(100 * entry[state]) / entry.total}%` : "0";
      return seg;
    }));
    bar.setAttribute("aria-label", STATES.map((s) => `${entry[s]} ${s}`).join(", "));
    for (const state of [...STATES, "total"]) {
      section.querySelector(`.count[data-state="${state}"]`).textContent = String(entry[state]);
    }
  }

  function renderPhysnets(entries) {
    const seen = new Set();
    const container = $("physnets");
    for (const entry of entries) {
      const key = entry.physnet ?? "";
      seen.add(key);
      let physnet = view.physnets.get(key);
      if (!physnet) {
        physnet = physnetSection(key, entry);
        view.physnets.set(key, physnet);
      }
      renderCapacity(physnet, entry);
      container.append(physnet.section); // in the summary's order
    }
    for (const [key, physnet] of view.physnets) {
      if (!seen.has(key)) {
        physnet.section.remove();
        view.physnets.delete(key);
      }
    }
    if (!entries.length) {
      container.replaceChildren(el("p", { class: "empty",
        text: "No host has registered a device yet: start an agent." }));
    }
  }

  function hostsQuery(physnet, marker, limit) {
    const query = new URLSearchParams({ physnet: physnet.key, limit: String(limit) });
    if (marker) query.set("marker", marker);
    if (view.filter) query.set("name", view.filter);
    return `/v1/dashboard/hosts?${query}`;
  }

  async function loadHosts(physnet, more) {
    const limit = more ? PAGE : Math.min(Math.max(PAGE, physnet.hosts.size), MAX_PAGE);
    const page = await api(hostsQuery(physnet, more ? physnet.next : null, limit));
    const container = physnet.section.querySelector(".hosts");
    if (!more) {
      const kept = new Set(page.hosts.map((h) => h.name));
      for (const [name, host] of physnet.hosts) {
        if (!kept.has(name)) {
          host.node.remove();
          physnet.hosts.delete(name);
        }
      }
    }
    const few = !more && page.next_marker === null && page.hosts.length <= AUTO_OPEN;
    for (const entry of page.hosts) {
      let host = physnet.hosts.get(entry.name);
      if (!host) {
        host = hostRow(physnet, entry.name, few && !physnet.closed.has(entry.name));
        physnet.hosts.set(entry.name, host);
      }
      host.node.querySelector(".mini").textContent =
        STATES.map((s) => `${s} ${entry[s]}`).join(" · ");
      container.append(host.node);
    }
    physnet.next = page.next_marker;
    physnet.section.querySelector(".more").hidden = page.next_marker === null;
    await Promise.all([...physnet.hosts.values()].filter((h) => h.open)
      .map((h) => loadDevices(physnet, h)));
  }

  function hostRow(physnet, name, open) {
    const head = el("button", { type: "button", class: "host-head" },
      el("span", { class: "name", text: name }), el("span", { class: "mini" }));
    const host = { name, open, node: el("div", { class: "host", "data-host": name }, head,
      el("div", { class: "pfs" })) };
    host.node.classList.toggle("open", open);
    head.setAttribute("aria-expanded", String(open));
    head.addEventListener("click", () => {
      host.open = !host.open;
      host.node.classList.toggle("open", host.open);
      head.setAttribute("aria-expanded", String(host.open));
      if (host.open) {
        physnet.closed.delete(name);
        loadDevices(physnet, host).catch(failed);
      } else {
        physnet.closed.add(name);
        host.node.querySelector(".pfs").replaceChildren();
      }
    });
    return host;
  }

  function vfSquare(host, device) {
    const port = device.port_id ? ` · port ${device.port_id}` : "";
    const square = el("button", {
      type: "button", class: `vf ${device.state}`, "data-address": device.address,
      "data-state": device.state, title: `${device.address} · ${device.status}${port}`,
    });
    square.setAttribute("aria-label", `VF ${device.address}: ${device.state}`);
    if (view.detail && view.detail.host === host && view.detail.address === device.address) {
      square.classList.add("selected");
    }
    square.addEventListener("click", () => showDetail(host, device.address).catch(failed));
    return square;
  }

  async function loadDevices(physnet, host) {
    const query = new URLSearchParams({ physnet: physnet.key });
    const found = await api(`/v1/dashboard/hosts/${encodeURIComponent(host.name)}/devices?${query}`);
    if (!host.open) return;
    const rows = found.pfs.map((pf) => {
      const devices = pf.vfs.length ? pf.vfs : (pf.state ? [pf] : []);
      const label = `${pf.ifname || "—"} ${pf.address || ""}`;
      return el("div", { class: "pf", "data-address": pf.address || "" },
        el("span", { class: "pf-label", text: label }),
        el("div", { class: "vfs" }, ...devices.map((d) => vfSquare(host.name, d))));
    });
    host.node.querySelector(".pfs").replaceChildren(...rows);
  }

  // --- one VF -----------------------------------------------------------------------------

  function rate(kbps) {
    return kbps == null ? "unlimited" : `${kbps} kbps`;
  }

  async function showDetail(host, address) {
    const found = await api(
      `/v1/dashboard/hosts/${encodeURIComponent(host)}/devices/${encodeURIComponent(address)}`);
    const vf = found.device;
    view.detail = { host, address };
    for (const square of document.querySelectorAll("button.vf.selected")) {
      square.classList.remove("selected");
    }
    const port = vf.port || {};
    const server = vf.server;
    const fields = [
      ["host", "Host", host],
      ["address", "Address", vf.address],
      ["state", "State", vf.state === vf.status ? vf.state : `${vf.state} (${vf.status})`],
      ["pf", "PF", vf.pf_ifname || "—"],
      ["index", "VF index", vf.vf_index ?? "—"],
      ["port", "Port", port.id || "none"],
      ["port-status", "Port status", port.status || "—"],
      ["server", "Server", server ? `${server.name} (${server.id})` : "none"],
      ["mac", "MAC", port.mac_address || vf.mac || "—"],
      ["vlan", "VLAN", port.vlan ?? "—"],
      ["max-rate", "Max tx rate", vf.port ? rate(vf.rates.max_kbps) : "—"],
      ["min-rate", "Min tx rate", vf.port ? rate(vf.rates.min_kbps) : "—"],
      ["vnic", "vNIC type", port.vnic_type || "—"],
    ];
    $("detail-title").textContent = vf.address;
    $("detail-fields").replaceChildren(...fields.flatMap(([id, name, value]) => [
      el("dt", { text: name }), el("dd", { id: `detail-${id}`, text: String(value) })]));
    $("detail-original").textContent = vf.saved_original
      ? JSON.stringify(vf.saved_original, null, 1)
      : "None saved: the agent has not changed this VF.";
    $("detail").hidden = false;
    const selector = `.host[data-host="${CSS.escape(host)}"] button.vf[data-address="${CSS.escape(address)}"]`;
    for (const square of document.querySelectorAll(selector)) square.classList.add("selected");
  }

  // --- events -----------------------------------------------------------------------------

  function explanation(event) {
    const details = event.details || {};
    if (event.kind === "no_valid_host") {
      const hosts = (details.hosts || []).map((h) => `${h.host}: ${h.message}`);
      if (details.hosts_left_out) hosts.push(`… and ${details.hosts_left_out} more hosts`);
      return hosts;
    }
    return (details.failure_reasons || []).map((r) => `${r.driver}: ${r.reason}`);
  }

  function renderEvents(events) {
    const list = $("event-list");
    if (!events.length) {
      list.replaceChildren(el("li", { class: "empty", text: "Nothing has failed." }));
      return;
    }
    list.replaceChildren(...events.map((event) => {
      const subject = [["server", event.server_id], ["port", event.port_id],
        ["host", event.host], ["request", event.request_id]]
        .filter(([, value]) => value).map(([name, value]) => `${name} ${value}`).join(" · ");
      return el("li", { class: `event ${event.kind}`, "data-kind": event.kind,
        "data-event-id": String(event.id) },
        el("div", { class: "when" }, el("span", { class: "kind", text: event.kind }),
          ` · ${event.created_at}`),
        el("p", { class: "message", text: event.message }),
        el("div", { class: "when subject", text: subject }),
        el("ul", { class: "explanation" },
          ...explanation(event).map((line) => el("li", { text: line }))));
    }));
  }

  // --- the loop ---------------------------------------------------------------------------

  async function refresh() {
    if (view.busy) return;
    view.busy = true;
    try {
      const [summary, events] = await Promise.all([
        api("/v1/dashboard/summary"), api("/v1/dashboard/events?limit=50")]);
      if (!view.live) return; // logged out meanwhile
      renderPhysnets(summary.physnets);
      renderEvents(events.events);
      await Promise.all([...view.physnets.values()].map((p) => loadHosts(p, false)));
      if (view.detail) await showDetail(view.detail.host, view.detail.address);
      $("problem").hidden = true;
      $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    } catch (error) {
      failed(error);
    } finally {
      view.busy = false;
    }
  }

  let filterTimer = null;
  function filterChanged() {
    window.clearTimeout(filterTimer);
    filterTimer = window.setTimeout(() => {
      view.filter = $("host-filter").value.trim();
      for (const physnet of view.physnets.values()) {
        physnet.hosts.clear();
        physnet.section.querySelector(".hosts").replaceChildren();
      }
      refresh();
    }, 300);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("host-filter").addEventListener("input", filterChanged);
    $("detail-close").addEventListener("click", () => {
      view.detail = null;
      $("detail").hidden = true;
      for (const square of document.querySelectorAll("button.vf.selected")) {
        square.classList.remove("selected");
      }
    });
    if (window.sessionStorage.getItem(TOKEN)) start();
    else showLogin("");
  });
})();
