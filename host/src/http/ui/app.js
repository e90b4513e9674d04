// floww dashboard: a small single-page app over the admin API (/api/...).
// No libraries and no build step. Every piece of data reaches the page as
// text (el() appends strings as text nodes; nothing is ever assigned to
// innerHTML), so nothing a workflow logs, stores or names can run as markup.
"use strict";

(() => {
  const EXEC_STATUSES = ["completed", "failed", "timeout", "rejected", "invalid"];
  const RUN_STATUSES = ["queued", "running", "sleeping", "waiting", "retrying", "completed", "failed", "cancelled"];
  const RUN_ENDED = new Set(["completed", "failed", "cancelled"]);
  const STATUS_COLORS = {
    completed: "#2e9d5b", failed: "#d64545", timeout: "#e08a1e", rejected: "#8a5cd6", invalid: "#7a8599",
  };
  const PALETTE = ["#3b7ddd", "#e0702a", "#2e9d5b", "#c43d8f", "#8a5cd6", "#1fa3a3", "#b8951a", "#d64545"];
  const LIVE_ROWS = 500; // rows kept on the live executions list
  const SVG_NS = "http://www.w3.org/2000/svg";

  // csrf: from GET /ui/session. cleanups: what the current page started
  // (streams, timers, listeners), stopped when another page is shown.
  // flash: a message for the next page (e.g. after a delete navigates away).
  const state = { csrf: "", cleanups: [], flash: null };

  // ---------- DOM helpers ----------

  function make(node, attrs, children) {
    append(node, children); // children first, so a <select>'s value can pick among them
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      // style as an object goes through CSSOM, which a strict CSP allows (style="" would not be).
      else if (key === "style") Object.assign(node.style, value);
      else if (key === "value" || key === "checked") node[key] = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    return node;
  }
  const el = (tag, attrs, ...children) => make(document.createElement(tag), attrs, children);
  const svg = (tag, attrs, ...children) => make(document.createElementNS(SVG_NS, tag), attrs, children);

  // Appends nodes and text (as text nodes), flattening arrays and skipping
  // null, undefined and false, so pages can write `cond ? x : null`.
  function append(node, ...children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  function replace(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  // Builds a URL path, percent-encoding every interpolated value: path`/api/workflows/${id}`.
  const path = (strings, ...values) =>
    strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");

  function qs(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  // Keeps a page's filters in its URL, so a reload or a shared link shows the same list.
  const setQuery = (params) => history.replaceState(null, "", location.pathname + qs(params));

  const fmt = {
    time: (ms) => (ms == null ? "—" : new Date(ms).toLocaleString()),
    clock(ms) {
      const d = new Date(ms);
      return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, "0")}`;
    },
    duration(ms) {
      if (ms == null || !isFinite(ms)) return "—";
      if (ms < 10) return `${ms.toFixed(2)} ms`;
      if (ms < 1000) return `${ms.toFixed(0)} ms`;
      if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
      return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
    },
    bytes(n) {
      if (n == null) return "—";
      const i = n >= 1 ? Math.min(3, Math.floor(Math.log2(n) / 10)) : 0;
      return `${i ? (n / 1024 ** i).toFixed(1) : n} ${["B", "KiB", "MiB", "GiB"][i]}`;
    },
    num: (v) => String(+v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)),
    json: (v) => JSON.stringify(v, null, 2),
  };

  const timeEl = (ms) =>
    ms == null ? "—" : el("time", { datetime: new Date(ms).toISOString() }, fmt.time(ms));
  const badge = (text, cls = "") => el("span", { class: `badge ${cls}` }, text);
  const statusBadge = (status) => badge(status, `status-${status}`);
  const withTitle = (node, title) => (title ? make(node, { title }, []) : node);
  // A table inside a wrapper that scrolls sideways on a narrow screen.
  const dataTable = (id, headers, body) => el("div", { class: "table-wrap" }, el("table", { id },
    el("thead", {}, el("tr", {}, headers.map((n) => el("th", { scope: "col" }, n)))), body));
  // A row: a <td>/<th> given stays as it is; anything else goes into a <td>.
  const row = (attrs, ...cells) => el("tr", attrs, cells.map((c) => (c instanceof HTMLTableCellElement ? c : el("td", {}, c))));
  const num = (text) => el("td", { class: "num" }, text);
  const dl = (pairs) =>
    el("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const notice = (...text) => el("div", { class: "notice", role: "status" }, text);
  const emptyState = (text, id) => el("p", { class: "empty", id }, text);

  function field(label, control, hint) {
    return el("div", { class: "field" }, el("label", { for: control.id }, label), control,
      hint ? el("small", { class: "hint" }, hint) : null);
  }
  const checkField = (label, control) => el("label", { class: "check" }, control, label);

  function select(attrs, options, value) {
    return el("select", { ...attrs, value }, options.map(([v, text]) => el("option", { value: v }, text)));
  }

  // A page's message slot: an error (role=alert) or a notice, replacing the last.
  function messageArea(id) {
    const node = el("div", { class: "messages", id });
    return {
      node,
      clear: () => node.replaceChildren(),
      show: (x) => replace(node, x instanceof Node ? x : x instanceof Error ? errorBox(x) : notice(x)),
    };
  }

  // ---------- API ----------

  class ApiError extends Error {
    constructor(status, data) {
      super((data && data.error) || `the host answered ${status}`);
      this.status = status;
      this.data = data;
    }
  }

  const toSignIn = () => { location.href = "/ui/sign-in"; };

  // One request to the host: the CSRF header on every call (GET too), JSON
  // in and out; a Blob (a component) goes as it is. Any 401 means the
  // session is gone: back to the sign-in page.
  async function request(method, url, body) {
    const headers = { "X-Floww-Csrf": state.csrf, Accept: "application/json" };
    let payload;
    if (body instanceof Blob) [payload, headers["Content-Type"]] = [body, "application/wasm"];
    else if (typeof body === "string") [payload, headers["Content-Type"]] = [body, "application/json"];
    else if (body !== undefined) [payload, headers["Content-Type"]] = [JSON.stringify(body), "application/json"];
    let res;
    try {
      res = await fetch(url, { method, credentials: "same-origin", headers, body: payload });
    } catch (e) {
      throw new ApiError(0, { error: `the host could not be reached (${e.message})` });
    }
    if (res.status === 401) {
      toSignIn();
      throw new ApiError(401, { error: "the session has ended; opening the sign-in page…" });
    }
    const text = await res.text();
    let data = text;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
    if (!res.ok) {
      throw new ApiError(res.status, data && typeof data === "object" ? data : { error: text.trim() || res.statusText });
    }
    return { status: res.status, data };
  }
  const api = async (method, url, body) => (await request(method, url, body)).data;

  // An error, readably: the host's message, its status, and what else the
  // answer names (the execution, each schema error, the allowed methods).
  function errorBox(err, list) {
    const data = err instanceof ApiError ? err.data : null;
    const errors = list || (data && Array.isArray(data.errors) ? data.errors : []);
    return el("div", { class: "error", role: "alert" },
      el("strong", {}, err.status ? `Error ${err.status}: ` : "Error: "), err.message,
      data && data.executionId ? [" — ", executionLink(data.executionId)] : null,
      data && Array.isArray(data.allowed) ? ` (allowed: ${data.allowed.join(", ")})` : null,
      data && data.index != null ? ` (write #${data.index})` : null,
      errors.length
        ? el("ul", {}, errors.map((e) => el("li", {}, e.path ? [el("code", {}, e.path), ": "] : null, e.message)))
        : null);
  }
  const executionLink = (id) => el("a", { href: path`/ui/executions/${id}` }, "see its execution");

  // The dialog asks; resolves true only for "yes". Escape and "no" say no.
  function confirmDialog(text, yesLabel = "Confirm") {
    const dialog = document.getElementById("confirm");
    if (dialog.open) return Promise.resolve(false); // one question at a time
    const opener = document.activeElement;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-yes").textContent = yesLabel;
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "yes");
        if (opener && opener.isConnected) opener.focus();
      }, { once: true });
      dialog.showModal();
      document.getElementById("confirm-no").focus(); // the safe answer is the default
    });
  }

  // Runs an action from a button: disabled meanwhile, errors to the message slot.
  async function busy(button, messages, work) {
    button.disabled = true;
    try { await work(); } catch (err) { messages.show(err); } finally { button.disabled = false; }
  }

  // The same, once the confirmation dialog said yes.
  async function confirmed(button, messages, question, yesLabel, work) {
    if (await confirmDialog(question, yesLabel)) await busy(button, messages, work);
  }

  // Fills a workflow <select> (after its "any" option); a chosen id no longer
  // deployed stays selectable, since its executions, runs and tables remain.
  async function fillWorkflows(selectEl, chosen) {
    let ids = [];
    try {
      ids = (await api("GET", "/api/workflows")).workflows.map((w) => w.id);
    } catch { /* the page's own list reports errors */ }
    if (chosen && !ids.includes(chosen)) ids.unshift(chosen);
    append(selectEl, ids.map((id) => el("option", { value: id }, id)));
    selectEl.value = chosen || selectEl.value;
    return ids;
  }

  // ---------- router ----------

  const routes = [
    [/^\/ui\/(?:workflows\/?)?$/, pageWorkflows],
    [/^\/ui\/workflows\/([^/]+)\/triggers\/([^/]+)\/?$/, pageManual],
    [/^\/ui\/executions\/?$/, pageExecutions],
    [/^\/ui\/executions\/([^/]+)\/?$/, pageExecution],
    [/^\/ui\/kv(?:\/([^/]+))?\/?$/, pageKv],
    [/^\/ui\/kv\/([^/]+)\/([^/]+)\/?$/, pageKvTable],
    [/^\/ui\/kv\/([^/]+)\/([^/]+)\/([^/]+)\/?$/, pageKvItem],
    [/^\/ui\/runs\/?$/, pageRuns],
    [/^\/ui\/runs\/([^/]+)\/?$/, pageRun],
    [/^\/ui\/charts\/?$/, pageCharts],
  ];

  const onCleanup = (fn) => state.cleanups.push(fn);

  function render() {
    for (const stop of state.cleanups.splice(0)) stop();
    const view = el("div", { class: "view" });
    document.getElementById("main").replaceChildren(view);
    markNav();
    if (state.flash) {
      append(view, notice(state.flash));
      state.flash = null;
    }
    for (const [re, page] of routes) {
      const m = re.exec(location.pathname);
      if (!m) continue;
      let params;
      try {
        params = m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)));
      } catch {
        break; // a malformed escape: not a page
      }
      // Called now (each page builds its heading before its first await), so navigate() can focus it.
      page(view, ...params).catch((err) => { if (view.isConnected) append(view, errorBox(err)); });
      return;
    }
    heading(view, "Not found");
    append(view, el("p", {}, "There is no page at ", el("code", {}, location.pathname), ". ",
      el("a", { href: "/ui/" }, "Go to the workflows.")));
  }

  function navigate(url) {
    if (url === location.pathname + location.search) history.replaceState(null, "", url);
    else history.pushState(null, "", url);
    render();
    window.scrollTo(0, 0);
    const h1 = document.querySelector("#main h1"); // tell screen readers the page changed
    if (h1) h1.focus({ preventScroll: true });
  }

  function markNav() {
    const here = location.pathname;
    for (const a of document.querySelectorAll(".top nav a")) {
      const base = a.getAttribute("href");
      const current = here === base || here.startsWith(`${base}/`) || (base === "/ui/workflows" && /^\/ui\/?$/.test(here));
      if (current) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  // Same-origin links into the app change the page without a reload; the
  // server's own pages (sign-in, assets) and modified clicks are left alone.
  function interceptLinks(e) {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest("a[href]");
    if (!a || (a.target && a.target !== "_self") || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith("/ui/")) return;
    if (/^\/ui\/(sign-in|sign-out|session|assets\/)/.test(url.pathname)) return;
    if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  }

  function heading(view, title, ...aside) {
    const h1 = el("h1", { tabindex: "-1" }, title);
    append(view, el("div", { class: "page-head" }, h1, aside));
    document.title = `${h1.textContent} · floww`;
    return h1;
  }

  // ---------- Workflows ----------

  async function pageWorkflows(view) {
    heading(view, "Workflows");
    const messages = messageArea("workflows-messages");
    const list = el("section", { "aria-label": "Deployed workflows" });
    append(view, deployControl(() => loadWorkflows(list, messages)), messages.node, list);
    await loadWorkflows(list, messages);
  }

  async function loadWorkflows(box, messages) {
    const { workflows } = await api("GET", "/api/workflows");
    const reload = () => loadWorkflows(box, messages).catch((err) => messages.show(err));
    const headers = ["ID", "Triggers", "Deployed", "Size", "SHA-256", "Timeout", "Allowed HTTP", "Denied HTTP",
      "Instance reuse", "Secrets", "Actions"];
    const rows = workflows.map((w) => workflowRow(w, messages, reload));
    replace(box, dataTable("workflows", headers, el("tbody", {}, rows)), workflows.length ? null : emptyState(
      "No workflows deployed yet — deploy a .wasm component above, or run `floww deploy CRATE_DIR`.", "workflows-empty"));
  }

  function workflowRow(w, messages, reload) {
    const secrets = el("td", { class: "secrets" }, el("span", { class: "muted" }, "…"));
    // Secret names come one request per workflow; the row shows meanwhile.
    api("GET", path`/api/workflows/${w.id}/secrets`).then(
      ({ secrets: list }) => replace(secrets, list.length
        ? el("ul", { class: "plain" }, list.map((s) =>
          el("li", { title: `set ${fmt.time(s.updatedAt)}` }, el("code", {}, s.name))))
        : el("span", { class: "muted" }, "none")),
      (err) => replace(secrets, el("span", { class: "error-text" }, err.message)));
    const undeploy = el("button", {
      type: "button", class: "danger small", "data-action": "undeploy",
      onclick: () => confirmed(undeploy, messages,
        `Undeploy workflow "${w.id}"? Its webhooks answer 404 at once and its crons stop; its KV tables stay.`, "Undeploy",
        async () => {
          await api("DELETE", path`/api/workflows/${w.id}`);
          messages.show(`Undeployed ${w.id}.`);
          await reload();
        }),
    }, "Undeploy");
    const list = (entries) => (entries && entries.length
      ? el("ul", { class: "plain" }, entries.map((e) => el("li", {}, el("code", {}, e))))
      : el("span", { class: "muted" }, "none"));
    return row({ "data-workflow": w.id },
      el("th", { scope: "row" }, el("code", {}, w.id), el("br"),
        el("a", { href: `/ui/executions${qs({ workflow: w.id })}`, class: "hint" }, "executions"), " ",
        el("a", { href: path`/ui/kv/${w.id}`, class: "hint" }, "KV")),
      triggerList(w), timeEl(w.deployedAt), num(fmt.bytes(w.size)),
      el("code", { title: w.sha256 }, `${String(w.sha256).slice(0, 12)}…`),
      num(fmt.duration(w.timeoutMs)), list(w.allowHttp), list(w.deniedHttp), num(String(w.instanceReuse ?? "—")),
      secrets, undeploy);
  }

  function triggerList(w) {
    const items = (w.triggers || []).map((t) => el("li", { "data-trigger": t.type }, triggerLabel(w.id, t)));
    return items.length ? el("ul", { class: "plain triggers" }, items) : el("span", { class: "muted" }, "none");
  }

  function triggerLabel(id, t) {
    switch (t.type) {
      case "webhook":
        return [badge(t.method), " ", el("code", { class: "url" }, t.url)];
      case "cron":
        return [badge("cron"), " ", el("code", {}, t.schedule), t.nextAt ? [" · next ", timeEl(t.nextAt)] : null];
      case "manual":
        return [badge("manual"), " ", el("a", { href: path`/ui/workflows/${id}/triggers/${t.name}` }, t.name)];
      case "run":
        return [badge("run"), " ", el("a", { href: `/ui/runs${qs({ workflow: id })}`, title: "its runs" }, t.name)];
      default:
        return [badge(t.type), " ", t.name || t.path || ""];
    }
  }

  // A component from a file input or a drop; the id defaults to the file's name.
  function deployControl(onDeployed) {
    const messages = messageArea("deploy-messages");
    const file = el("input", { type: "file", id: "deploy-file", accept: ".wasm,application/wasm" });
    const id = el("input", { type: "text", id: "deploy-id", autocomplete: "off", spellcheck: "false" });
    const chosen = el("span", { class: "muted" }, "no file chosen");
    let autoId = "";
    const picked = () => {
      const f = file.files[0];
      if (!f) return;
      chosen.textContent = `${f.name} (${fmt.bytes(f.size)})`;
      // Only replace an id the user did not type.
      if (!id.value || id.value === autoId) id.value = autoId = f.name.replace(/\.wasm$/i, "").replace(/_/g, "-");
    };
    file.addEventListener("change", picked);
    const zone = el("label", { class: "drop-zone", id: "deploy-drop", for: "deploy-file" },
      el("strong", {}, "Drop a .wasm component here, or choose one:"), file, chosen);
    const over = (on) => (e) => { e.preventDefault(); zone.classList.toggle("over", on); };
    zone.addEventListener("dragenter", over(true));
    zone.addEventListener("dragover", over(true));
    zone.addEventListener("dragleave", over(false));
    zone.addEventListener("drop", (e) => {
      over(false)(e);
      if (e.dataTransfer && e.dataTransfer.files.length) {
        file.files = e.dataTransfer.files;
        picked();
      }
    });
    const button = el("button", { type: "submit", id: "deploy" }, "Deploy");
    const form = el("form", { class: "panel", id: "deploy-form", "aria-label": "Deploy a workflow" },
      el("h2", {}, "Deploy"), zone,
      el("div", { class: "row" }, field("Workflow id", id, "lower-case letters, digits and -"), button),
      messages.node);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      messages.clear();
      const f = file.files[0];
      const wid = id.value.trim();
      if (!f) return messages.show(new Error("choose a .wasm file first"));
      if (!wid) return messages.show(new Error("give the workflow an id"));
      button.textContent = "Deploying…";
      await busy(button, messages, async () => {
        const { status, data } = await request("PUT", path`/api/workflows/${wid}`, f);
        messages.show(el("div", { class: "notice", role: "status", id: "deploy-result" },
          status === 201 ? "Deployed new workflow " : "Replaced workflow ", el("code", {}, data.id),
          ` (sha256 ${String(data.sha256).slice(0, 12)}…). Triggers:`, triggerList(data)));
        await onDeployed();
      });
      button.textContent = "Deploy";
    });
    return form;
  }

  // ---------- Executions ----------

  async function pageExecutions(view) {
    const live = el("span", { id: "live", role: "status", "data-state": "connecting" }, "connecting…");
    heading(view, "Executions", live);
    const params = new URLSearchParams(location.search);
    const filters = { workflow: "", trigger: "", status: "" };
    for (const k of Object.keys(filters)) filters[k] = params.get(k) || "";
    const wf = el("select", { id: "filter-workflow", name: "workflow" }, el("option", { value: "" }, "All workflows"));
    const trigger = el("input",
      { type: "search", id: "filter-trigger", name: "trigger", value: filters.trigger, placeholder: "e.g. webhook POST /users" });
    const status = select({ id: "filter-status", name: "status" },
      [["", "Any status"], ...EXEC_STATUSES.map((s) => [s, s])], filters.status);
    const messages = messageArea("executions-messages");
    const body = el("tbody");
    const empty = emptyState("", "executions-empty");
    const more = el("button", { type: "button", id: "executions-more", class: "secondary", hidden: true }, "Load older");
    append(view,
      el("form", { class: "row panel", role: "search", onsubmit: (e) => e.preventDefault() },
        field("Workflow", wf), field("Trigger contains", trigger), field("Status", status)),
      messages.node,
      dataTable("executions", ["ID", "Workflow", "Trigger", "Status", "HTTP", "Started", "Duration"], body),
      empty, el("div", { class: "actions" }, more));

    const seen = new Set();
    const passes = (r) => (!filters.workflow || r.workflow === filters.workflow)
      && (!filters.status || r.status === filters.status)
      && (!filters.trigger || String(r.trigger).toLowerCase().includes(filters.trigger.toLowerCase()));
    const showEmpty = () => {
      empty.hidden = body.children.length > 0;
      empty.textContent = filters.workflow || filters.status || filters.trigger
        ? "No executions match these filters."
        : "No executions yet — call a webhook, invoke a manual trigger or wait for a cron tick; they appear here live.";
    };
    function add(r, fresh) {
      if (!r || !r.id || seen.has(r.id) || !passes(r)) return;
      seen.add(r.id);
      const tr = executionRow(r);
      if (fresh) {
        tr.classList.add("fresh");
        body.prepend(tr);
        while (body.children.length > LIVE_ROWS) {
          seen.delete(body.lastElementChild.dataset.execution);
          body.lastElementChild.remove();
        }
      } else append(body, tr);
      showEmpty();
    }

    let cursor = null;
    let generation = 0; // a newer filter change wins over an older answer
    async function load(reset) {
      if (reset) {
        // Cleared before the request: live rows that arrive meanwhile stay, above the page.
        generation++;
        body.replaceChildren();
        seen.clear();
        empty.hidden = true;
      }
      const mine = generation;
      const q = qs({ workflow: filters.workflow, status: filters.status, limit: 100, cursor: reset ? null : cursor });
      const data = await api("GET", `/api/executions${q}`);
      if (mine !== generation) return;
      data.executions.forEach((r) => add(r, false)); // older: below what the stream has prepended
      cursor = data.cursor;
      more.hidden = !cursor;
      showEmpty();
    }
    const reload = () => {
      setQuery(filters);
      messages.clear();
      load(true).catch((err) => messages.show(err));
    };
    let typing;
    trigger.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(() => { filters.trigger = trigger.value.trim(); reload(); }, 250);
    });
    wf.addEventListener("change", () => { filters.workflow = wf.value; reload(); });
    status.addEventListener("change", () => { filters.status = status.value; reload(); });
    more.addEventListener("click", () => busy(more, messages, () => load(false)));
    onCleanup(() => clearTimeout(typing));

    // The stream opens before the first page loads, so nothing falls between them.
    onCleanup(followExecutions((r) => add(r, true), live));
    fillWorkflows(wf, filters.workflow);
    await load(true);
  }

  function executionRow(r) {
    return row({ "data-execution": r.id, "data-status": r.status },
      el("a", { href: path`/ui/executions/${r.id}`, class: "mono" }, r.id), r.workflow, el("code", {}, r.trigger),
      withTitle(statusBadge(r.status), r.error), num(r.httpStatus ?? "—"), timeEl(r.startedAt),
      num(fmt.duration(r.durationMs)));
  }

  // Follows GET /api/executions/live (server-sent events; the cookie goes
  // along, a header can't). Returns the function that stops it.
  function followExecutions(onRecord, indicator) {
    let source = null;
    let retry = null;
    const show = (s, text) => { indicator.dataset.state = s; indicator.textContent = text; };
    const handle = (e) => {
      let record;
      try { record = JSON.parse(e.data); } catch { return; } // a malformed event is skipped, the stream goes on
      onRecord(record);
    };
    const connect = () => {
      // Only the connected state says "live", so a reader (or a test) can wait for that word.
      show("connecting", "connecting…");
      source = new EventSource("/api/executions/live");
      source.onopen = () => show("open", "live");
      source.addEventListener("execution", handle);
      source.onmessage = handle; // an unnamed event, should the server send one
      source.onerror = () => {
        if (source.readyState !== EventSource.CLOSED) return show("connecting", "reconnecting…");
        // The browser gave up (an error status): the session may have ended.
        show("closed", "offline — retrying in 5 s");
        checkSession();
        retry = setTimeout(connect, 5000);
      };
    };
    connect();
    return () => { clearTimeout(retry); if (source) source.close(); };
  }

  async function checkSession() {
    try {
      const res = await fetch("/ui/session", { credentials: "same-origin" });
      if (res.status === 401) toSignIn();
    } catch { /* offline: the stream's retry covers it */ }
  }

  async function pageExecution(view, id) {
    heading(view, "Execution");
    const r = await api("GET", path`/api/executions/${id}`);
    append(view,
      dl([
        ["ID", el("code", { id: "execution-id" }, r.id)],
        ["Workflow", el("a", { href: `/ui/executions${qs({ workflow: r.workflow })}` }, r.workflow)],
        ["Trigger", el("code", {}, r.trigger)],
        ["Status", el("span", { id: "execution-status" }, statusBadge(r.status))],
        r.httpStatus != null ? ["HTTP status", String(r.httpStatus)] : null,
        ["Started", timeEl(r.startedAt)],
        ["Duration", fmt.duration(r.durationMs)],
        r.run ? ["Durable run", el("a", { href: path`/ui/runs/${r.run}`, id: "execution-run" }, r.run)] : null,
      ]),
      r.error ? [el("h2", {}, "Error"), el("pre", { class: "error-text", id: "execution-error" }, r.error)] : null,
      el("h2", {}, "Log lines"),
      logLines(r.logs || [], "execution-logs"),
      r.http && r.http.length ? [el("h2", {}, "Outbound HTTP"), httpCalls(r.http)] : null);
  }

  function logLines(lines, id) {
    return el("div", { class: "logs", id },
      lines.length ? null : el("p", { class: "empty" }, "No log lines."),
      lines.map((l) => {
        const level = String(l.level).toLowerCase();
        return el("div", { class: `log-line level-${level.replace(/[^a-z]/g, "")}`, "data-level": level },
          el("span", { class: "log-level" }, level.toUpperCase()),
          el("time", { datetime: new Date(l.at).toISOString(), title: fmt.time(l.at) }, fmt.clock(l.at)),
          el("span", { class: "log-message" }, l.message));
      }));
  }

  function httpCalls(calls) {
    return dataTable("execution-http", ["Method", "Origin", "Status", "Time", "Bytes"], el("tbody", {}, calls.map((c) =>
      row({}, c.method, el("code", {}, c.origin),
        c.error ? el("span", { class: "error-text" }, c.error) : String(c.status ?? "—"),
        num(fmt.duration(c.durationMs)), num(fmt.bytes(c.bytes))))));
  }

  // ---------- Manual trigger ----------

  async function pageManual(view, id, name) {
    heading(view, ["Manual trigger ", el("code", {}, name)]);
    const w = await api("GET", path`/api/workflows/${id}`);
    const trigger = (w.triggers || []).find((t) => t.type === "manual" && t.name === name);
    if (!trigger) {
      const names = w.triggers.filter((t) => t.type === "manual").map((t) => t.name).join(", ") || "none";
      throw new Error(`workflow "${id}" has no manual trigger "${name}" (it declares: ${names})`);
    }
    const schema = trigger.inputSchema && typeof trigger.inputSchema === "object" ? trigger.inputSchema : null;
    const fields = (objectProperties(schema) || []).map((f, i) => ({ ...f, ...fieldControl(f, i) }));
    const general = el("div", { id: "manual-errors" });
    const output = el("pre", { id: "output", "aria-live": "polite" });
    const result = el("div", { id: "manual-result" });
    const objectish = schema && [].concat(schema.type ?? "object").includes("object");
    const raw = el("textarea", { id: "raw-input", name: "raw", spellcheck: "false", rows: 12 }, objectish ? "{}" : "null");
    const useRaw = el("input", { type: "checkbox", id: "use-raw", checked: fields.length === 0 });
    const fieldBox = el("fieldset", { id: "manual-fields" }, el("legend", {}, "Input"),
      fields.length ? fields.map((f) => f.node)
        : el("p", { class: "muted" }, "The input schema describes no object with properties, so the input is entered as JSON."));
    const rawBox = el("div", {}, field("Input as JSON", raw, "sent as the request body; empty is null"));
    const invoke = el("button", { type: "submit", id: "invoke" }, "Invoke");
    const form = el("form", { id: "manual-form", class: "panel", novalidate: true },
      checkField(" Edit the input as raw JSON", useRaw), fieldBox, rawBox, general, el("div", { class: "actions" }, invoke));
    append(view,
      el("p", { class: "lead" }, "Workflow ", el("code", {}, id), " · ", el("code", {}, trigger.url)),
      form,
      schema ? el("details", {}, el("summary", {}, "Input schema"), el("pre", {}, fmt.json(schema))) : null,
      el("h2", {}, "Output"), result, output);

    const showMode = () => { fieldBox.hidden = useRaw.checked; rawBox.hidden = !useRaw.checked; };
    // Switching to raw JSON starts from what the form holds.
    useRaw.addEventListener("change", () => {
      clearErrors();
      try {
        if (useRaw.checked && fields.length) raw.value = fmt.json(collect());
      } catch { /* a field's bad JSON: the raw text stays as it was */ }
      showMode();
    });
    showMode();

    function clearErrors() {
      general.replaceChildren();
      for (const f of fields) {
        f.errors.replaceChildren();
        f.control.removeAttribute("aria-invalid");
      }
    }
    function fieldError(f, where, message) {
      const shown = where !== f.pointer ? `${where}: ${message}` : message; // below the field: say where
      append(f.errors, el("span", { class: "field-error", "data-field": where }, shown));
      f.control.setAttribute("aria-invalid", "true");
    }
    function collect() {
      const input = {};
      let bad = false;
      for (const f of fields) {
        try {
          const v = readField(f);
          if (v !== undefined) input[f.name] = v;
        } catch (e) {
          bad = true;
          fieldError(f, f.pointer, `not valid JSON: ${e.message}`);
        }
      }
      if (bad) throw new Error("fix the fields marked below; nothing was sent");
      return input;
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors();
      output.textContent = "";
      result.replaceChildren();
      let body;
      try {
        if (!useRaw.checked) body = JSON.stringify(collect());
        else {
          body = raw.value.trim() || "null";
          JSON.parse(body); // refuse bad JSON here, with the reason, before anything is sent
        }
      } catch (err) {
        append(general, errorBox(err instanceof SyntaxError ? new Error(`the input is not valid JSON: ${err.message}`) : err));
        return;
      }
      invoke.textContent = "Running…";
      await busy(invoke, { show: (err) => showInvokeError(err) }, async () => {
        const data = await api("POST", path`/api/workflows/${id}/triggers/${name}/invoke`, body);
        output.textContent = fmt.json(data.output);
        append(result, notice("Completed — ", executionLink(data.executionId)));
      });
      invoke.textContent = "Invoke";
    });

    // A 400 from the schema check lists errors with a JSON Pointer `field`
    // into the input (where the error is, or the missing property's own
    // place): each goes next to the field it falls in (the field itself or
    // below it); the rest go to the general box.
    function showInvokeError(err) {
      const errors = err instanceof ApiError && Array.isArray(err.data && err.data.errors) ? err.data.errors : null;
      if (!errors) return append(general, errorBox(err));
      const unplaced = [];
      for (const e of errors) {
        const p = String(e.field ?? e.path ?? "");
        const f = !useRaw.checked && fields.find((x) => p === x.pointer || p.startsWith(`${x.pointer}/`));
        if (f) fieldError(f, p, e.message);
        else unplaced.push(e);
      }
      append(general, unplaced.length ? errorBox(err, unplaced)
        : errorBox(new ApiError(err.status, { error: "the input does not match the schema: see the fields marked below" }), []));
    }
  }

  // The properties of an object schema, each with its JSON Pointer; null
  // when the schema is no object with properties (then: raw JSON only).
  function objectProperties(schema) {
    const s = resolveRef(schema, schema);
    if (!s.properties || typeof s.properties !== "object") return null;
    const types = [].concat(s.type ?? "object");
    if (!types.includes("object")) return null;
    const required = new Set(Array.isArray(s.required) ? s.required : []);
    return Object.entries(s.properties).map(([name, p]) => ({
      name,
      schema: resolveRef(p, schema),
      required: required.has(name),
      pointer: `/${name.replace(/~/g, "~0").replace(/\//g, "~1")}`,
    }));
  }

  // Follows local `$ref`s ("#/$defs/x"), as the host does; a few hops, so a cycle ends.
  function resolveRef(node, root) {
    for (let hops = 0; node && typeof node === "object" && typeof node.$ref === "string" && hops < 8; hops++) {
      if (!node.$ref.startsWith("#")) break;
      const parts = node.$ref.slice(1).split("/").slice(1)
        .map((p) => decodeURIComponent(p).replace(/~1/g, "/").replace(/~0/g, "~"));
      const target = parts.reduce((at, part) => (at && typeof at === "object" ? at[part] : undefined), root);
      if (!target || typeof target !== "object") break;
      node = target;
    }
    return node && typeof node === "object" ? node : {};
  }

  function fieldKind(p) {
    if (Array.isArray(p.enum)) return "enum";
    const types = [].concat(p.type ?? []).filter((t) => t !== "null");
    const t = types.length === 1 ? types[0] : "json";
    return ["string", "number", "integer", "boolean"].includes(t) ? t : "json";
  }

  // One form control per property: string → text, number → number,
  // boolean → checkbox, enum → select, anything else → JSON in a textarea.
  function fieldControl(f, i) {
    const p = f.schema;
    const kind = fieldKind(p);
    const id = `field-${i}`;
    const attrs = { id, name: f.name, "aria-required": f.required ? "true" : null, "aria-describedby": `${id}-errors` };
    let control;
    if (kind === "enum") {
      const def = p.enum.findIndex((v) => JSON.stringify(v) === JSON.stringify(p.default));
      control = select(attrs, [["", "—"], ...p.enum.map((v, n) => [String(n), typeof v === "string" ? v : JSON.stringify(v)])],
        def >= 0 ? String(def) : "");
    } else if (kind === "string") {
      control = el("input", { ...attrs, type: "text", value: typeof p.default === "string" ? p.default : null });
    } else if (kind === "number" || kind === "integer") {
      control = el("input", { ...attrs, type: "number", step: kind === "integer" ? "1" : "any", min: p.minimum, max: p.maximum,
        value: typeof p.default === "number" ? String(p.default) : null });
    } else if (kind === "boolean") {
      control = el("input", { ...attrs, type: "checkbox", checked: p.default === true });
    } else {
      control = el("textarea", { ...attrs, class: "json", rows: 3, spellcheck: "false",
        placeholder: [].concat(p.type).includes("array") ? "[ ]" : "{ }" }, p.default !== undefined ? fmt.json(p.default) : "");
    }
    const errors = el("span", { id: `${id}-errors`, class: "field-errors" });
    const label = [el("code", {}, f.name), f.required ? el("span", { class: "required" }, " * required") : null,
      kind === "json" ? el("span", { class: "muted" }, " (JSON)") : null];
    const hint = p.description ? el("small", { class: "hint" }, p.description) : null;
    const labelled = kind === "boolean"
      ? el("label", { class: "check", for: id }, control, label)
      : [el("label", { for: id }, label), control];
    const node = el("div", { class: "field", "data-field": f.pointer }, labelled, hint, errors);
    return { kind, control, errors, node };
  }

  // A field's value; undefined leaves the property out (an empty field).
  function readField(f) {
    const c = f.control;
    switch (f.kind) {
      case "enum": return c.value === "" ? undefined : f.schema.enum[Number(c.value)];
      case "string": return c.value === "" ? undefined : c.value;
      case "number": case "integer": return c.value === "" ? undefined : Number(c.value);
      case "boolean": return c.checked;
      default: return c.value.trim() === "" ? undefined : JSON.parse(c.value);
    }
  }

  // ---------- KV ----------

  async function pageKv(view, chosen) {
    heading(view, "KV store");
    const as = el("select", { id: "kv-as" });
    const tables = el("section", { "aria-label": "Tables" });
    append(view,
      el("p", { class: "lead" }, "Browse the store as one workflow sees it: the tables it owns and those it was granted."),
      el("div", { class: "row" }, field("Act as workflow", as)),
      tables);
    const ids = await fillWorkflows(as, chosen);
    if (!ids.length) {
      append(tables, emptyState("No workflows are deployed, so there is nobody to act as — deploy one on the Workflows page."));
      return;
    }
    as.addEventListener("change", () => navigate(path`/ui/kv/${as.value}`));
    await showTables(tables, chosen || ids[0]);
  }

  async function showTables(box, workflow) {
    const { tables } = await api("GET", path`/api/kv/${workflow}`);
    replace(box,
      el("h2", {}, "Tables of ", el("code", {}, workflow)),
      dataTable("kv-tables", ["Table", "Owner"], el("tbody", {}, tables.map((t) => row({ "data-table": t.name },
        el("a", { href: path`/ui/kv/${workflow}/${t.name}` }, t.name),
        [el("code", {}, t.owner), t.owner === workflow ? " (this workflow)" : " (granted)"])))),
      tables.length ? null : emptyState(
        `${workflow} owns no tables and holds no grants yet: a table is made by its first write.`, "kv-tables-empty"));
  }

  function kvCrumbs(workflow, table, key) {
    return el("nav", { "aria-label": "Breadcrumb" }, el("ol", { class: "crumbs" },
      el("li", {}, el("a", { href: path`/ui/kv/${workflow}` }, "KV as ", workflow)),
      el("li", {}, key === undefined
        ? el("span", { "aria-current": "page" }, table)
        : el("a", { href: path`/ui/kv/${workflow}/${table}` }, table)),
      key === undefined ? null : el("li", {}, el("span", { "aria-current": "page" }, key))));
  }

  async function pageKvTable(view, workflow, table) {
    heading(view, ["Table ", el("code", {}, table)]);
    const params = new URLSearchParams(location.search);
    // ?limit= sets the page size (1–1000; default 100).
    const limit = Math.min(1000, Math.max(1, Number(params.get("limit")) || 100));
    const prefix = el("input",
      { type: "search", id: "kv-prefix", name: "prefix", value: params.get("prefix") || "", placeholder: "user:" });
    const list = el("ul", { id: "kv-keys", class: "plain keys" });
    const empty = emptyState("", "kv-keys-empty");
    const next = el("button", { type: "button", id: "kv-next", class: "secondary", hidden: true, disabled: true }, "Next page");
    const first = el("button", { type: "button", id: "kv-first", class: "secondary", hidden: true }, "First page");
    const pageInfo = el("span", { class: "muted", id: "kv-page" });
    const messages = messageArea("kv-messages");
    const perms = el("section", { id: "kv-permissions-box", "aria-label": "Permissions" });
    append(view, kvCrumbs(workflow, table),
      el("p", { class: "lead" }, "Acting as ", el("code", {}, workflow), "."),
      el("h2", {}, "Keys"),
      el("form", { class: "row", role: "search", id: "kv-filter", onsubmit: (e) => { e.preventDefault(); load(null, 1); } },
        field("Key prefix", prefix), el("button", { type: "submit", class: "secondary" }, "Filter")),
      messages.node, list, empty,
      el("div", { class: "actions" }, first, next, pageInfo),
      perms);

    let cursor = null;
    let page = 1;
    async function load(from, n) {
      messages.clear();
      setQuery({ prefix: prefix.value, limit: params.get("limit") });
      try {
        const data = await api("GET", path`/api/kv/${workflow}/${table}` + qs({ prefix: prefix.value, limit, cursor: from }));
        page = n;
        replace(list, ...data.keys.map((k) =>
          el("li", { "data-key": k }, el("a", { href: path`/ui/kv/${workflow}/${table}/${k}`, class: "mono" }, k))));
        empty.hidden = !!data.keys.length;
        empty.textContent = prefix.value ? `No keys start with "${prefix.value}".` : "This table has no keys.";
        cursor = data.cursor;
        next.hidden = next.disabled = !cursor;
        first.hidden = page === 1;
        pageInfo.textContent = `Page ${page} · ${data.keys.length} key${data.keys.length === 1 ? "" : "s"}`;
      } catch (err) {
        messages.show(err);
      }
    }
    next.addEventListener("click", () => load(cursor, page + 1));
    first.addEventListener("click", () => load(null, 1));
    await Promise.all([load(null, 1), showPermissions(perms, workflow, table)]);
  }

  async function showPermissions(box, workflow, table) {
    const messages = messageArea("kv-permissions-messages");
    const reload = () => showPermissions(box, workflow, table);
    let permissions = [];
    try {
      ({ permissions } = await api("GET", path`/api/kv/${workflow}/permissions/${table}`));
    } catch (err) {
      messages.show(err);
    }
    const yesNo = (b) => (b ? "yes" : "no");
    const rows = permissions.map((p) => {
      const revoke = p.isOwner ? el("span", { class: "muted" }, "owner") : el("button", {
        type: "button", class: "danger small", "data-action": "revoke",
        onclick: () => confirmed(revoke, messages, `Revoke ${p.workflowId}'s access to table "${table}"?`, "Revoke",
          async () => {
            await api("DELETE", path`/api/kv/${workflow}/permissions/${table}/${p.workflowId}`);
            await reload();
          }),
      }, "Revoke");
      return row({ "data-grantee": p.workflowId }, el("code", {}, p.workflowId), yesNo(p.canRead), yesNo(p.canWrite), revoke);
    });
    const grantee = el("input",
      { type: "text", id: "grant-workflow", name: "workflowId", autocomplete: "off", spellcheck: "false", required: true });
    const read = el("input", { type: "checkbox", id: "grant-read", name: "canRead", checked: true });
    const write = el("input", { type: "checkbox", id: "grant-write", name: "canWrite" });
    const grant = el("button", { type: "submit", id: "grant" }, "Grant");
    const form = el("form", { id: "kv-grant", class: "row panel", "aria-label": "Grant access" },
      field("Grantee workflow id", grantee), el("div", {}, checkField(" read", read), checkField(" write", write)), grant);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(grant, messages, async () => {
        await api("PUT", path`/api/kv/${workflow}/permissions/${table}`,
          { workflowId: grantee.value.trim(), canRead: read.checked, canWrite: write.checked });
        await reload();
      });
    });
    replace(box, el("h2", {}, "Permissions"), messages.node,
      dataTable("kv-permissions", ["Workflow", "Read", "Write", ""], el("tbody", {}, rows)),
      el("h3", {}, "Grant access (owner only; a second grant replaces the first)"), form);
  }

  async function pageKvItem(view, workflow, table, key) {
    heading(view, ["Key ", el("code", {}, key)]);
    const messages = messageArea("item-messages");
    append(view, kvCrumbs(workflow, table, key), messages.node);
    if (table === "permissions") {
      // GET /api/kv/W/permissions/K answers table K's permissions, not this key.
      const why = "the permission routes shadow single keys of a table named \"permissions\": this key can't be opened here";
      append(view, errorBox(new Error(why)));
      return;
    }
    const url = path`/api/kv/${workflow}/${table}/${key}`;
    const item = await api("GET", url);
    const value = el("textarea", { id: "item-value", spellcheck: "false" }, fmt.json(item.value));
    const meta = el("div");
    const stored = (v) => (JSON.stringify(v).length > 200 ? `${JSON.stringify(v).slice(0, 200)}…` : JSON.stringify(v));
    const showMeta = (it) => replace(meta, dl([
      ["Stored value", el("code", { id: "item-stored" }, stored(it.value))],
      ["Version", el("span", { id: "item-version" }, String(it.version))],
      ["Created", timeEl(it.createdAt)],
      ["Updated", timeEl(it.updatedAt)],
      ["Expires", it.expiresAt == null ? "never" : timeEl(it.expiresAt)],
    ]));
    showMeta(item);
    const save = el("button", { type: "button", id: "save" }, "Save");
    const del = el("button", { type: "button", id: "delete", class: "danger" }, "Delete");
    append(view, el("p", { class: "lead" }, "Acting as ", el("code", {}, workflow), "."), meta,
      field("Value (JSON)", value), el("div", { class: "actions" }, save, del));

    save.addEventListener("click", async () => {
      messages.clear();
      let parsed;
      try {
        parsed = JSON.parse(value.value);
      } catch (err) {
        value.setAttribute("aria-invalid", "true");
        return messages.show(new Error(`the value is not valid JSON (${err.message}); nothing was saved`));
      }
      value.removeAttribute("aria-invalid");
      await confirmed(save, messages, `Save this value as "${key}" in table "${table}", acting as ${workflow}?`, "Save",
        async () => {
          const written = await api("PUT", url, { value: parsed });
          showMeta(await api("GET", url));
          messages.show(`Saved: version ${written.version}.`);
        });
    });
    del.addEventListener("click", () => {
      messages.clear();
      confirmed(del, messages, `Delete "${key}" from table "${table}", acting as ${workflow}? This can't be undone.`, "Delete",
        async () => {
          await api("DELETE", url);
          state.flash = `Deleted ${key}.`;
          navigate(path`/ui/kv/${workflow}/${table}`);
        });
    });
  }

  // ---------- Durable runs ----------

  async function pageRuns(view) {
    heading(view, "Durable runs");
    const params = new URLSearchParams(location.search);
    const filters = { workflow: params.get("workflow") || "", status: params.get("status") || "" };
    const wf = el("select", { id: "runs-workflow", name: "workflow" }, el("option", { value: "" }, "All workflows"));
    const status = select({ id: "runs-status", name: "status" },
      [["", "Any status"], ...RUN_STATUSES.map((s) => [s, s])], filters.status);
    const refresh = el("button", { type: "button", id: "runs-refresh", class: "secondary" }, "Refresh");
    const more = el("button", { type: "button", id: "runs-more", class: "secondary", hidden: true }, "Load older");
    const messages = messageArea("runs-messages");
    const body = el("tbody");
    const empty = emptyState("", "runs-empty");
    append(view,
      el("form", { class: "row panel", role: "search", onsubmit: (e) => e.preventDefault() },
        field("Workflow", wf), field("Status", status), refresh),
      messages.node,
      dataTable("runs", ["ID", "Workflow", "Run function", "Status", "Created", "Ended", "Invocations", "Error"], body),
      empty, el("div", { class: "actions" }, more));

    let cursor = null;
    let generation = 0;
    async function load(reset) {
      const mine = reset ? ++generation : generation;
      const data = await api("GET", `/api/runs${qs({ ...filters, limit: 100, cursor: reset ? null : cursor })}`);
      if (mine !== generation) return;
      if (reset) body.replaceChildren();
      append(body, data.runs.map(runRow));
      cursor = data.cursor;
      more.hidden = !cursor;
      empty.hidden = body.children.length > 0;
      empty.textContent = filters.workflow || filters.status ? "No runs match these filters."
        : "No durable runs yet — a workflow starts one with ctx.runs.start(…), or POST /api/workflows/{id}/runs/{name}.";
    }
    const reload = () => {
      setQuery(filters);
      messages.clear();
      return load(true).catch((err) => messages.show(err));
    };
    wf.addEventListener("change", () => { filters.workflow = wf.value; reload(); });
    status.addEventListener("change", () => { filters.status = status.value; reload(); });
    refresh.addEventListener("click", () => busy(refresh, messages, reload));
    more.addEventListener("click", () => busy(more, messages, () => load(false)));
    fillWorkflows(wf, filters.workflow);
    await load(true);
  }

  function runRow(r) {
    return row({ "data-run": r.id, "data-status": r.status },
      el("a", { href: path`/ui/runs/${r.id}`, class: "mono" }, r.id), r.workflow, el("code", {}, r.name),
      statusBadge(r.status), timeEl(r.createdAt), timeEl(r.endedAt), num(String(r.invocations)),
      el("td", { class: "error-text" }, r.error ? String(r.error).slice(0, 120) : ""));
  }

  async function pageRun(view, id) {
    heading(view, ["Run ", el("code", {}, id)]);
    const messages = messageArea("run-messages");
    const cancel = el("button", { type: "button", id: "run-cancel", class: "danger" }, "Cancel run");
    const rerun = el("button", { type: "button", id: "run-rerun" }, "Rerun");
    const from = el("input", { type: "number", id: "rerun-from", min: 0, step: 1, placeholder: "0", style: { width: "6rem" } });
    const content = el("div", { id: "run" });
    append(view,
      el("div", { class: "actions" }, cancel, rerun, el("label", { for: "rerun-from" }, "from step"), from),
      messages.node, content);

    let poll = null;
    onCleanup(() => clearTimeout(poll));
    async function load() {
      clearTimeout(poll);
      const run = await api("GET", path`/api/runs/${id}`);
      if (!content.isConnected) return;
      const ended = RUN_ENDED.has(run.status);
      cancel.disabled = ended;
      rerun.disabled = !ended;
      replace(content, runFacts(run), el("h2", {}, "Timeline"), timeline(run),
        el("h2", {}, "Steps"), el("div", { id: "run-steps" },
          run.steps.length ? run.steps.map(stepCard) : emptyState("No steps yet.")));
      // While it has not ended, follow it.
      if (!ended) poll = setTimeout(() => load().catch((err) => messages.show(err)), 3000);
    }
    cancel.addEventListener("click", () => confirmed(cancel, messages,
      `Cancel run ${id}? An invocation under way loses its lease; nothing it does after is kept.`, "Cancel run",
      async () => {
        await api("POST", path`/api/runs/${id}/cancel`);
        messages.show("Cancelled.");
        await load();
      }));
    rerun.addEventListener("click", () => {
      const step = from.value === "" ? "" : String(Math.max(0, Math.floor(Number(from.value))));
      const what = step ? `from step ${step}, keeping the journal before it` : "from the start";
      confirmed(rerun, messages,
        `Run ${id} again ${what}, on the workflow's current version? The KV effects of the steps it runs again happen again.`,
        "Rerun", async () => {
          await api("POST", path`/api/runs/${id}/rerun` + qs({ fromStep: step }));
          messages.show("Started again.");
          await load();
        });
    });
    await load();
  }

  function runFacts(run) {
    return [
      dl([
        ["Workflow", el("a", { href: `/ui/runs${qs({ workflow: run.workflow })}` }, run.workflow)],
        ["Run function", el("code", {}, run.name)],
        ["Status", el("span", { id: "run-status" }, statusBadge(run.status))],
        run.idempotencyKey != null ? ["Idempotency key", el("code", {}, run.idempotencyKey)] : null,
        ["Created", timeEl(run.createdAt)],
        ["Updated", timeEl(run.updatedAt)],
        ["Ended", timeEl(run.endedAt)],
        run.dueAt != null ? ["Due", timeEl(run.dueAt)] : null,
        ["Invocations", String(run.invocations)],
        ["Suspended", fmt.duration(run.suspendedMs)],
      ]),
      run.error ? el("pre", { class: "error-text", id: "run-error" }, run.error) : null,
      el("details", {}, el("summary", {}, "Input"), el("pre", {}, fmt.json(run.input))),
      run.output != null
        ? el("details", { open: true }, el("summary", {}, "Output"), el("pre", { id: "run-output" }, fmt.json(run.output)))
        : null,
    ];
  }

  // Each step a bar on a shared time axis from the run's start to its end
  // (or now, while it goes on).
  function timeline(run) {
    const steps = run.steps.filter((s) => s.startedAt != null);
    if (!steps.length) return emptyState("Nothing to draw yet.");
    const ended = RUN_ENDED.has(run.status);
    const endOf = (s) => s.endedAt ?? (ended ? run.endedAt ?? run.updatedAt : Date.now());
    const t0 = Math.min(run.createdAt, ...steps.map((s) => s.startedAt));
    const t1 = Math.max(t0 + 1, run.endedAt ?? 0, ...steps.map(endOf));
    const pct = (t) => ((t - t0) / (t1 - t0)) * 100;
    return el("div", { class: "timeline", id: "run-timeline" },
      steps.map((s) => {
        const left = Math.min(99.5, pct(s.startedAt));
        const width = Math.max(0.5, Math.min(100 - left, pct(endOf(s)) - left));
        const label = `${s.index}. ${s.kind} ${s.name}`;
        return el("div", { class: "timeline-row" },
          el("span", { class: "timeline-label", title: label }, label),
          el("div", { class: "timeline-track" },
            el("div", {
              class: `timeline-bar status-${s.status}`, "data-step": s.index, style: { left: `${left}%`, width: `${width}%` },
              title: `${label}: ${s.status}, ${fmt.time(s.startedAt)} → ${s.endedAt ? fmt.time(s.endedAt) : "…"}`,
            })));
      }),
      el("div", { class: "timeline-axis" },
        el("span", {}, fmt.time(t0)), el("span", {}, fmt.duration(t1 - t0)), el("span", {}, fmt.time(t1))));
  }

  function stepCard(s) {
    return el("section", { class: "step", "data-step": s.index },
      el("h3", {}, `${s.index}. `, el("code", {}, s.name), " ", badge(s.kind), " ", statusBadge(s.status)),
      el("p", { class: "muted" }, timeEl(s.startedAt),
        s.endedAt != null ? [" → ", timeEl(s.endedAt), ` (${fmt.duration(s.endedAt - s.startedAt)})`] : null,
        s.wakeAt != null ? [" · wakes ", timeEl(s.wakeAt)] : null),
      s.error ? el("pre", { class: "error-text" }, s.error) : null,
      s.output != null ? el("details", {}, el("summary", {}, "Output"), el("pre", {}, fmt.json(s.output))) : null,
      s.attempts && s.attempts.length
        ? [el("h4", {}, "Attempts"), el("ol", { class: "attempts" }, s.attempts.map(attemptItem))]
        : null);
  }

  function attemptItem(a) {
    return el("li", {}, timeEl(a.startedAt), ` · ${fmt.duration(a.endedAt - a.startedAt)} · `,
      el("a", { href: path`/ui/executions/${a.execution}` }, "execution"),
      a.error ? el("pre", { class: "error-text" }, a.error) : el("span", { class: "status-completed" }, " ok"),
      a.logs && a.logs.length ? logLines(a.logs) : null);
  }

  // ---------- Charts ----------

  async function pageCharts(view) {
    heading(view, "Charts");
    const messages = messageArea("charts-messages");
    const box = el("div", { class: "charts", id: "charts" });
    const updated = el("span", { class: "muted", id: "charts-updated" });
    append(view, el("p", { class: "lead" }, "The last hour, sampled by the host every 10 s; this page refreshes every 10 s. ",
      updated), messages.node, box);
    let last = null;
    const draw = async () => {
      try {
        last = await api("GET", "/api/metrics/history");
        messages.clear();
        if (box.isConnected) renderCharts(box, last);
        updated.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      } catch (err) {
        messages.show(err);
      }
    };
    let resizing;
    const onResize = () => { clearTimeout(resizing); resizing = setTimeout(() => last && renderCharts(box, last), 200); };
    window.addEventListener("resize", onResize);
    const timer = setInterval(draw, 10000);
    onCleanup(() => { clearInterval(timer); clearTimeout(resizing); window.removeEventListener("resize", onResize); });
    await draw();
  }

  function renderCharts(box, history) {
    const samples = (history && history.samples) || [];
    if (!samples.length) {
      const text = "No samples yet — the host records one every 10 seconds; the charts appear after the first.";
      replace(box, emptyState(text, "charts-empty"));
      return;
    }
    const dt = history.intervalSeconds || 10;
    const at = samples.map((s) => s.at);
    // Counts are per sample; the last one is still under way, so each is divided by its own length
    // (`seconds`), but never by less than a second, so a young sample makes no spike.
    const perSecond = (f) => samples.map((s) => (f(s) ?? 0) / (s.seconds > 1 ? s.seconds : s.seconds == null ? dt : 1));
    const workflows = [...new Set(samples.flatMap((s) => Object.keys(s.durations || {})))].sort();
    const durations = (w, q) => samples.map((s) => (s.durations && s.durations[w] ? s.durations[w][q] ?? null : null));
    const charts = [
      { id: "chart-executions", title: "Executions per second, by status", unit: "/s", yLabel: "executions/s",
        series: EXEC_STATUSES.map((st) =>
          ({ name: st, color: STATUS_COLORS[st], values: perSecond((s) => s.executions && s.executions[st]) })) },
      { id: "chart-durations", title: "Duration per workflow: p50 (solid), p99 (dashed)", unit: " ms", yLabel: "ms",
        empty: "No executions in this hour.", series: workflows.flatMap((w, i) => [
          { name: `${w} p50`, color: PALETTE[i % PALETTE.length], values: durations(w, "p50Ms") },
          { name: `${w} p99`, color: PALETTE[i % PALETTE.length], dashed: true, values: durations(w, "p99Ms") }]) },
      { id: "chart-kv", title: "KV operations per second", unit: "/s", yLabel: "operations/s",
        series: [{ name: "operations", color: PALETTE[0], values: perSecond((s) => s.kvOperations) }] },
      { id: "chart-queue", title: "Queue depth and running executions", unit: "", yLabel: "count",
        series: [{ name: "queue", color: PALETTE[1], values: samples.map((s) => s.queue ?? 0) },
          { name: "running", color: PALETTE[0], values: samples.map((s) => s.running ?? 0) }] },
    ];
    const figures = charts.map((c) => el("figure", { class: "chart", id: c.id }, el("figcaption", {}, c.title)));
    replace(box, ...figures);
    // Drawn once in the page, so each knows its width.
    charts.forEach((c, i) => append(figures[i], lineChart(c, at, Math.max(260, figures[i].clientWidth - 20))));
  }

  // A line chart in SVG: y from 0 to a round maximum with 4 grid lines,
  // time along x, one path per series (a null value breaks the line), and
  // a legend with each series' latest value.
  function lineChart(c, at, width) {
    const height = 220;
    const m = { left: 56, right: 12, top: 10, bottom: 36 };
    const finite = c.series.flatMap((s) => s.values).filter((v) => v != null && isFinite(v));
    if (!c.series.length || !finite.length) return emptyState(c.empty || "No data in this hour.");
    const x0 = at[0];
    const x1 = Math.max(at[at.length - 1], x0 + 1);
    const yMax = niceMax(Math.max(...finite));
    const X = (t) => m.left + ((t - x0) / (x1 - x0)) * (width - m.left - m.right);
    const Y = (v) => height - m.bottom - (v / yMax) * (height - m.top - m.bottom);
    const parts = [];
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      parts.push(svg("line", { class: "grid", x1: m.left, x2: width - m.right, y1: Y(v), y2: Y(v) }),
        svg("text", { x: m.left - 6, y: Y(v) + 4, "text-anchor": "end" }, fmt.num(v)));
    }
    const ticks = Math.min(5, at.length);
    for (let i = 0; i < ticks; i++) {
      const t = ticks === 1 ? x0 : x0 + ((x1 - x0) * i) / (ticks - 1);
      const anchor = i === 0 ? "start" : i === ticks - 1 && ticks > 1 ? "end" : "middle";
      parts.push(svg("text", { x: X(t), y: height - m.bottom + 16, "text-anchor": anchor },
        new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    }
    parts.push(svg("line", { class: "axis", x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom }),
      svg("line", { class: "axis", x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom }),
      svg("text", { x: 12, y: height / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${height / 2})` }, c.yLabel),
      svg("text", { x: (m.left + width - m.right) / 2, y: height - 4, "text-anchor": "middle" }, "time (local)"));
    for (const s of c.series) {
      let d = "";
      let pen = false;
      s.values.forEach((v, i) => {
        if (v == null || !isFinite(v)) return (pen = false);
        d += `${pen ? "L" : "M"}${X(at[i]).toFixed(1)},${Y(v).toFixed(1)}`;
        pen = true;
      });
      parts.push(svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round",
        "stroke-linecap": "round", "stroke-dasharray": s.dashed ? "6 4" : null, "data-series": s.name }));
      // With a sample or two there is no line to see: mark the points.
      if (at.length < 3) {
        s.values.forEach((v, i) => v != null && isFinite(v)
          && parts.push(svg("circle", { cx: X(at[i]), cy: Y(v), r: 3, fill: s.color })));
      }
    }
    const latest = (s) => [...s.values].reverse().find((v) => v != null && isFinite(v));
    const reading = (s) => (latest(s) == null ? "" : `${fmt.num(latest(s))}${c.unit}`);
    const label = `${c.title}: ${c.series.map((s) => `${s.name} ${reading(s) || "none"}`).join(", ")}`;
    return [
      svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label }, parts),
      el("ul", { class: "legend" }, c.series.map((s) => el("li", { "data-series": s.name },
        el("span", { class: `swatch${s.dashed ? " dashed" : ""}`, style: { borderTopColor: s.color }, "aria-hidden": "true" }),
        s.name, el("span", { class: "muted" }, ` ${reading(s)}`)))),
    ];
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 2.5, 5, 10].map((k) => k * p).find((n) => n >= v);
  }

  // ---------- start ----------

  async function signOut() {
    try {
      await fetch("/ui/sign-out", { method: "POST", credentials: "same-origin", headers: { "X-Floww-Csrf": state.csrf } });
    } catch { /* signed out or not, the sign-in page is where this goes */ }
    toSignIn();
  }

  async function start() {
    document.addEventListener("click", interceptLinks);
    window.addEventListener("popstate", render);
    document.getElementById("sign-out").addEventListener("click", signOut);
    try {
      const res = await fetch("/ui/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (res.status === 401) return toSignIn();
      if (!res.ok) throw new ApiError(res.status, { error: `the session check failed (${res.status})` });
      state.csrf = (await res.json()).csrf;
    } catch (err) {
      const shown = err instanceof ApiError ? err : new Error(`the host could not be reached (${err.message})`);
      document.getElementById("main").replaceChildren(errorBox(shown));
      return;
    }
    render();
  }

  start();
})();
