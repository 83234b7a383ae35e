// The preview page: choose a campaign or layout and a customer, see the email
// as that customer gets it, and see it again whenever a project file changes.
//
// Everything shown comes from the JSON API next to this file (api/...). The
// email itself only ever goes into sandboxed frames without allow-scripts, so
// nothing in a layout runs here; data from the server reaches the page through
// textContent, never as markup.

const COMPARE_MAX = 4;
const SEARCH_DELAY_MS = 200;
const SEARCH_LIMIT = 20;
const RETRY_MAX_MS = 10000;
const COMPARE_FRAME_HEIGHT = 900;
const IMAGES_WAIT_MS = 10000;

const TABS = ["html", "text", "headers", "source", "products", "compare"];

// Applied inside the frames: a rough imitation of clients that darken email
// (Gmail and Outlook apps invert colours and keep photos as they are).
const DARK_CSS = `
html { filter: invert(1) hue-rotate(180deg); background: #fff; }
img, picture, video { filter: invert(1) hue-rotate(180deg); }
`;
const DARK_STYLE_ID = "mailer-preview-dark";

const state = {
  version: null,
  project: null,
  campaign: null,   // campaign file, relative to the project
  layout: null,     // layout name (the campaign's, when a campaign is chosen)
  customer: null,   // customer id
  customerInfo: null,
  locale: "",
  currency: "",
  tab: "html",
  dark: false,
  compare: [],      // customer ids
  known: new Map(),     // customers as the customers file has them, by id
};

// Newer requests win: a response is shown only if nothing was asked since.
const sequence = { render: 0, compare: 0, search: 0, picks: 0 };

const $ = (testid, root = document) => root.querySelector(`[data-testid="${testid}"]`);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- the API

async function api(path, params = {}, init = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const url = query.toString() ? `${path}?${query}` : path;
  const response = await fetch(url, { headers: { Accept: "application/json" }, ...init });
  let body;
  try {
    body = await response.json();
  } catch {
    body = { error: "bad_response", message: `${response.status} ${response.statusText}: the server did not answer with JSON` };
  }
  return { status: response.status, ok: response.ok, body };
}

// What the current choice asks of the server; the campaign implies its layout.
function renderParams() {
  const params = { locale: state.locale, currency: state.currency };
  if (state.campaign) params.campaign = state.campaign;
  else params.layout = state.layout;
  return params;
}

// ---------------------------------------------------------------- the URL

function readUrl() {
  const query = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  const get = (name) => query.get(name) ?? hash.get(name);
  state.campaign = get("campaign");
  state.layout = get("layout");
  state.customer = get("customer");
  state.locale = get("locale") ?? "";
  state.currency = get("currency") ?? "";
  const tab = get("tab");
  state.tab = TABS.includes(tab) ? tab : "html";
  state.dark = get("dark") === "1";
  state.compare = (get("compare") ?? "").split(",").filter(Boolean).slice(0, COMPARE_MAX);
}

function writeUrl() {
  const query = new URLSearchParams();
  if (state.campaign) query.set("campaign", state.campaign);
  else if (state.layout) query.set("layout", state.layout);
  if (state.customer) query.set("customer", state.customer);
  if (state.locale) query.set("locale", state.locale);
  if (state.currency) query.set("currency", state.currency);
  if (state.tab !== "html") query.set("tab", state.tab);
  if (state.dark) query.set("dark", "1");
  if (state.compare.length) query.set("compare", state.compare.join(","));
  const url = `${location.pathname}?${query}`;
  if (url !== location.pathname + location.search) history.replaceState(null, "", url);
}

// ---------------------------------------------------------------- status line

function setLive(text, { offline = false } = {}) {
  const node = $("live-status");
  node.textContent = text;
  node.classList.toggle("offline", offline);
}

function timeNow() {
  return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// ---------------------------------------------------------------- project

async function loadProject() {
  const { ok, body } = await api("api/project");
  if (!ok) throw new Error(body.message || "the project could not be read");
  state.project = body;
  state.version ??= body.version;
  const name = body.project.split(/[\\/]/).filter(Boolean).pop() || body.project;
  $("project-name").textContent = name;
  $("project-name").title = body.project;
  document.title = `${name} · mailer preview`;
  fillOptions($("locale-select"), body.locales, state.locale);
  fillOptions($("currency-select"), body.currencies, state.currency);
  const listed = body.campaigns.find((c) => c.file === state.campaign);
  if (listed) state.layout = listed.layout;
  drawSidebar();
  drawSeeds(body.seeds);
}

// The seed list's size when the server says it (mailer.toml's seeds).
function drawSeeds(seeds) {
  const label = $("send-seeds-label");
  const box = $("send-seeds");
  if (!Array.isArray(seeds)) return;
  label.textContent = seeds.length
    ? `also the seed list (${seeds.length} address${seeds.length === 1 ? "" : "es"})`
    : "seed list (none set in mailer.toml)";
  box.disabled = !seeds.length;
  if (!seeds.length) box.checked = false;
  box.closest("label").title = seeds.join(", ");
}

function fillOptions(select, values, chosen) {
  const own = select.options[0];
  select.replaceChildren(own, ...values.map((value) => el("option", { value, text: value })));
  if (chosen && !values.includes(chosen)) select.append(el("option", { value: chosen, text: chosen }));
  select.value = chosen || "";
}

function drawSidebar() {
  const project = state.project;
  if (!project) return;
  $("campaign-list").replaceChildren(
    ...project.campaigns.map((campaign) =>
      el("li", {},
        el("button", {
          type: "button",
          "data-testid": "campaign-item",
          "data-file": campaign.file,
          "aria-current": state.campaign === campaign.file ? "true" : "false",
          title: campaign.title && campaign.title !== campaign.id ? campaign.title : campaign.file,
          onclick: () => chooseCampaign(campaign),
        }, campaign.id, el("small", { text: `${campaign.file} · ${campaign.layout}` })),
      ),
    ),
  );
  if (!project.campaigns.length) $("campaign-list").append(el("li", { class: "hint", text: "No campaigns in this project." }));
  $("layout-list").replaceChildren(
    ...project.layouts.map((layout) =>
      el("li", {},
        el("button", {
          type: "button",
          "data-testid": "layout-item",
          "data-layout": layout,
          "aria-current": !state.campaign && state.layout === layout ? "true" : "false",
          onclick: () => chooseLayout(layout),
        }, layout),
      ),
    ),
  );
}

function chooseCampaign(campaign) {
  state.campaign = campaign.file;
  state.layout = campaign.layout;
  afterSourceChange();
}

function chooseLayout(layout) {
  state.campaign = null;
  state.layout = layout;
  afterSourceChange();
}

function afterSourceChange() {
  drawSidebar();
  writeUrl();
  loadPicks();
  refresh();
}

// ---------------------------------------------------------------- customers

function describeCustomer(customer) {
  return [customer.locale, customer.currency, customer.segment].filter(Boolean).join(" · ");
}

function drawCurrentCustomer() {
  const node = $("current-customer");
  const customer = state.customerInfo;
  if (!state.customer) {
    node.textContent = "none chosen";
    return;
  }
  node.replaceChildren(
    customer?.name || state.customer,
    el("small", { text: customer ? `${customer.id} · ${customer.email} · ${describeCustomer(customer)}` : state.customer }),
  );
  for (const item of document.querySelectorAll('[data-testid="customer-result"]')) {
    item.classList.toggle("current", item.dataset.customer === state.customer);
  }
}

function chooseCustomer(customer) {
  state.customer = customer.id;
  state.customerInfo = customer;
  state.known.set(customer.id, customer);
  drawCurrentCustomer();
  writeUrl();
  refresh({ compare: false });
}

let lastResults = [];

async function search(text) {
  const mine = ++sequence.search;
  let reply;
  try {
    reply = await api("api/customers", { q: text, limit: SEARCH_LIMIT });
  } catch {
    return; // the live status already says when the server is gone
  }
  if (mine !== sequence.search) return;
  const { ok, body } = reply;
  if (!ok) {
    $("customer-total").textContent = body.message || "The customers could not be searched.";
    $("customer-results").replaceChildren();
    return;
  }
  lastResults = body.customers;
  for (const customer of body.customers) state.known.set(customer.id, customer);
  const shown = body.customers.length;
  $("customer-total").textContent = shown === 0
    ? "No customer matches."
    : shown < body.total ? `${shown} of ${body.total} customers` : `${body.total} customer${body.total === 1 ? "" : "s"}`;
  drawResults();
}

function drawResults() {
  const full = state.compare.length >= COMPARE_MAX;
  $("customer-results").replaceChildren(
    ...lastResults.map((customer) => {
      const ticked = state.compare.includes(customer.id);
      return el("li", {
        "data-testid": "customer-result",
        "data-customer": customer.id,
        class: customer.id === state.customer ? "current" : null,
      },
        el("button", { type: "button", class: "pick", onclick: () => chooseCustomer(customer), title: customer.email },
          customer.name || customer.id,
          el("small", { text: `${customer.id} · ${describeCustomer(customer)}` }),
          el("small", { text: customer.email }),
        ),
        el("label", { class: "compare-box", title: "Compare this customer" },
          el("input", {
            type: "checkbox",
            "data-testid": "compare-check",
            "aria-label": `Compare ${customer.name || customer.id}`,
            checked: ticked,
            disabled: full && !ticked,
            onchange: (event) => toggleCompare(customer, event.target.checked),
          }),
          "compare",
        ),
      );
    }),
  );
}

let searchTimer = 0;

function onSearchInput(event) {
  clearTimeout(searchTimer);
  const text = event.target.value.trim();
  searchTimer = setTimeout(() => search(text), SEARCH_DELAY_MS);
}

function onSearchKey(event) {
  if (event.key === "Enter" && lastResults.length) {
    event.preventDefault();
    chooseCustomer(lastResults[0]);
  }
}

async function findCustomer(id) {
  const { ok, body } = await api("api/customers", { q: id, limit: SEARCH_LIMIT });
  return ok ? body.customers.find((customer) => customer.id === id) ?? null : null;
}

async function firstCustomer() {
  const { ok, body } = await api("api/customers", { q: "", limit: 1 });
  return ok ? body.customers[0] ?? null : null;
}

// ---------------------------------------------------------------- quick picks

async function loadPicks() {
  const mine = ++sequence.picks;
  const params = state.campaign ? { campaign: state.campaign } : { layout: state.layout };
  let reply;
  try {
    reply = await api("api/picks", params);
  } catch {
    return;
  }
  if (mine !== sequence.picks) return;
  const segments = $("segment-picks");
  const markets = $("market-picks");
  const steps = $("step-picks");
  if (!reply.ok) {
    segments.hidden = markets.hidden = steps.hidden = true;
    return;
  }
  const { segments: bySegment = [], markets: byMarket = [], steps: byStep = [] } = reply.body;
  drawCustomerPicks(segments, "segment-pick", bySegment);
  drawCustomerPicks(markets, "market-pick", byMarket);
  steps.hidden = !byStep.length;
  steps.querySelector(".chips").replaceChildren(
    ...byStep.map((pick) =>
      el("button", {
        type: "button",
        "data-testid": "step-pick",
        title: pick.customer
          ? `${pick.campaign}: ${pick.customer.name} (${pick.customer.id})`
          : `${pick.campaign}: no customer is at this step`,
        onclick: () => chooseStep(pick),
      }, pick.label, pick.customer ? null : el("small", { text: " (nobody)" })),
    ),
  );
}

function drawCustomerPicks(box, testid, picks) {
  box.hidden = !picks.length;
  box.querySelector(".chips").replaceChildren(
    ...picks.map((pick) =>
      el("button", {
        type: "button",
        "data-testid": testid,
        title: `${pick.customer.name} (${pick.customer.id})`,
        onclick: () => chooseCustomer(pick.customer),
      }, pick.label),
    ),
  );
}

function chooseStep(pick) {
  const campaign = state.project?.campaigns.find((c) => c.file === pick.campaign);
  state.campaign = pick.campaign;
  if (campaign) state.layout = campaign.layout;
  if (pick.customer) {
    state.customer = pick.customer.id;
    state.customerInfo = pick.customer;
    drawCurrentCustomer();
  }
  drawSidebar();
  writeUrl();
  refresh();
}

// ---------------------------------------------------------------- frames

// The email as the frame's document: links open in a new tab instead of
// replacing the preview, and dark mode applies before the first paint.
function frameDocument(html) {
  const extra = `<base target="_blank">${state.dark ? `<style id="${DARK_STYLE_ID}">${DARK_CSS}</style>` : ""}`;
  const head = /<head(\s[^>]*)?>/i.exec(html);
  if (head) return html.slice(0, head.index + head[0].length) + extra + html.slice(head.index + head[0].length);
  return extra + html;
}

function applyDark(frame) {
  const doc = frame.contentDocument;
  if (!doc?.head) return;
  const existing = doc.getElementById(DARK_STYLE_ID);
  if (state.dark && !existing) {
    const style = doc.createElement("style");
    style.id = DARK_STYLE_ID;
    style.textContent = DARK_CSS;
    doc.head.append(style);
  } else if (!state.dark && existing) {
    existing.remove();
  }
}

// Frames grow to their document's height, so the page scrolls, not the frame,
// and the frame's width is the email's viewport (no scrollbar takes from it).
const frameSizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const frame = entry.target.ownerDocument.defaultView?.frameElement;
    if (frame) fitFrame(frame);
  }
});

// The root element's own height, not scrollHeight: that is never less than the
// frame's, so a frame could grow but never shrink back for a shorter email.
// While a new email's images load it may be shorter than it will be; the frame
// does not shrink until then, or the page would jump up under the reader.
function fitFrame(frame) {
  const doc = frame.contentDocument;
  if (!doc?.documentElement) return;
  let height = Math.ceil(doc.documentElement.getBoundingClientRect().height);
  if (frame.dataset.loading) height = Math.max(height, parseFloat(frame.style.height) || 0);
  if (height > 0) frame.style.height = `${height}px`;
  const box = frame.closest(".compare-frame-box");
  if (box) box.style.height = `${Math.ceil(height * scaleOf(box))}px`;
}

const observed = new WeakMap();

// Resolves once the new document is parsed. Not on "load": that waits for the
// email's images, which may be slow or, offline, never come.
function showInFrame(frame, html) {
  const before = frame.contentDocument;
  const scroll = frame.contentWindow ? { x: frame.contentWindow.scrollX, y: frame.contentWindow.scrollY } : null;
  const loaded = () => {
    clearTimeout(Number(frame.dataset.loading));
    delete frame.dataset.loading;
    fitFrame(frame);
  };
  clearTimeout(Number(frame.dataset.loading));
  frame.dataset.loading = String(setTimeout(loaded, IMAGES_WAIT_MS));
  frame.addEventListener("load", loaded, { once: true });
  frame.srcdoc = frameDocument(html);
  return new Promise((resolve) => {
    const started = performance.now();
    const check = () => {
      const doc = frame.contentDocument;
      const parsed = doc && doc !== before && doc.readyState !== "loading" && doc.documentElement;
      if (!parsed) {
        if (!frame.isConnected || performance.now() - started > 10000) resolve();
        else setTimeout(check, 20);
        return;
      }
      if (observed.has(frame)) frameSizer.unobserve(observed.get(frame));
      observed.set(frame, doc.documentElement);
      frameSizer.observe(doc.documentElement);
      fitFrame(frame);
      if (scroll && (scroll.x || scroll.y)) frame.contentWindow.scrollTo(scroll.x, scroll.y);
      resolve();
    };
    setTimeout(check, 0);
  });
}

function allFrames() {
  return document.querySelectorAll(
    'iframe[data-testid="desktop-frame"], iframe[data-testid="mobile-frame"], iframe[data-testid="compare-frame"]',
  );
}

function setDark(on) {
  state.dark = on;
  $("dark-toggle").checked = on;
  $("dark-note").hidden = !on;
  document.querySelector(".main").classList.toggle("dark", on);
  for (const frame of allFrames()) applyDark(frame);
  writeUrl();
}

// ---------------------------------------------------------------- one render

let renders = 0;

async function render() {
  if (!state.customer || !(state.campaign || state.layout)) return;
  const mine = ++sequence.render;
  const main = document.querySelector(".main");
  main.dataset.state = "loading";
  let reply;
  try {
    reply = await api("api/render", { ...renderParams(), customer: state.customer });
  } catch (error) {
    if (mine === sequence.render) main.dataset.state = "offline";
    throw error;
  }
  if (mine !== sequence.render) return;
  const { status, body } = reply;
  if (status === 200) {
    await showRender(body);
    if (mine !== sequence.render) return;
    main.dataset.state = "ready";
  } else if (status === 422) {
    showLayoutError(body);
    main.dataset.state = "error";
  } else {
    showRenderError(body.message || `The server answered ${status}.`);
    main.dataset.state = "error";
  }
  main.dataset.renders = String(++renders);
}

function clearErrors() {
  $("layout-error").hidden = true;
  $("render-error").hidden = true;
  document.querySelector(".main").classList.remove("has-error");
}

function showLayoutError(error) {
  clearErrors();
  const where = [error.file, error.line ? `line ${error.line}` : null].filter(Boolean).join(", ");
  $("layout-error-location").textContent = where;
  $("layout-error-location").hidden = !where;
  $("layout-error-message").textContent = error.message;
  $("layout-error").querySelector("h2").textContent =
    error.error === "layout" ? "The layout does not render" : "This email does not render";
  $("layout-error").hidden = false;
  document.querySelector(".main").classList.add("has-error");
}

function showRenderError(message) {
  clearErrors();
  $("render-error-message").textContent = message;
  $("render-error").hidden = false;
  document.querySelector(".main").classList.add("has-error");
}

// The customer as the customers file has them: a render's customer may carry
// the locale and currency overrides instead of their own.
function ownCustomer(customer) {
  const known = state.known.get(customer.id) ?? (state.customerInfo?.id === customer.id ? state.customerInfo : null);
  return known ? { ...customer, locale: known.locale, currency: known.currency, country: known.country } : customer;
}

async function showRender(result) {
  clearErrors();
  state.customerInfo = ownCustomer(result.customer);
  state.known.set(result.customer.id, state.customerInfo);
  drawCurrentCustomer();
  $("subject").textContent = result.subject || "(no subject)";
  $("preheader").textContent = result.preheader || "";
  $("render-meta").textContent = [
    `To ${result.customer.name} <${result.customer.email}>`,
    `${result.locale} · ${result.currency}`,
    result.campaign ? `${result.campaign} (${result.layout})` : `layout ${result.layout}`,
    `rendered in ${Math.round(result.elapsed_ms)} ms`,
  ].join("  ·  ");
  $("locale-select").options[0].textContent = `customer's own (${state.customerInfo.locale})`;
  $("currency-select").options[0].textContent = `customer's own (${state.customerInfo.currency})`;
  $("plain-text").textContent = result.text;
  $("raw-source").textContent = result.raw;
  drawHeaders(result.headers);
  drawProducts(result.products);
  drawSize(result.size, result.clip_limit);
  drawWarnings(result.warnings);
  await Promise.all([
    showInFrame($("desktop-frame"), result.html),
    showInFrame($("mobile-frame"), result.html),
  ]);
}

function drawHeaders(headers) {
  $("headers-table").tBodies[0].replaceChildren(
    ...headers.map(([name, value]) =>
      el("tr", { "data-testid": "header-row" }, el("td", { text: name }), el("td", { text: value }))),
  );
}

function productTable(products) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...["#", "Product", "Title", "Price", "Why"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...products.map((product, index) =>
      el("tr", { "data-testid": "product-row" },
        el("td", { text: index + 1 }),
        el("td", { text: product.id }),
        el("td", { text: product.title }),
        el("td", { class: "price", text: product.price }),
        el("td", { class: "reason", text: product.reason }),
      ))),
  );
}

function drawProducts(products) {
  const groups = Object.entries(products ?? {});
  const panel = $("products");
  panel.classList.add("products");
  if (!groups.length) {
    panel.replaceChildren(el("p", { class: "hint", text: "This layout has no product slots." }));
    return;
  }
  panel.replaceChildren(
    ...groups.flatMap(([group, items]) => [
      el("h3", { text: `${group} (${items.length})` }),
      items.length ? productTable(items) : el("p", { class: "hint", text: "No product for this customer." }),
    ]),
  );
}

// Decimal kilobytes, as Gmail's "102 KB" clipping limit is usually quoted.
function formatKB(bytes) {
  return `${(bytes / 1000).toFixed(1)} KB`;
}

function drawSize(size, limit) {
  const box = $("size-indicator");
  const share = limit > 0 ? size / limit : 0;
  $("size-label").textContent = `HTML ${formatKB(size)} of ${formatKB(limit)}${share > 1 ? ": Gmail clips it" : ""}`;
  $("size-bar").style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
  box.classList.toggle("over", share > 1);
  box.classList.toggle("near", share > 0.85 && share <= 1);
  box.dataset.size = String(size);
  box.dataset.limit = String(limit);
}

function drawWarnings(warnings = []) {
  const errors = warnings.filter((w) => w.severity === "error").length;
  const badge = $("warnings-count");
  badge.textContent = String(warnings.length);
  const plain = warnings.length - errors;
  badge.title = `${errors} error${errors === 1 ? "" : "s"}, ${plain} warning${plain === 1 ? "" : "s"}`;
  badge.classList.toggle("has-errors", errors > 0);
  badge.classList.toggle("has-warnings", errors === 0 && warnings.length > 0);
  const list = $("warnings-list");
  if (!warnings.length) {
    list.replaceChildren(el("li", { class: "none", text: "No warnings." }));
    return;
  }
  // Errors first: they are what to fix before sending.
  const sorted = [...warnings].sort((a, b) => (a.severity === "error" ? 0 : 1) - (b.severity === "error" ? 0 : 1));
  list.replaceChildren(
    ...sorted.map((warning) => {
      // Without a path, a line is a line of the rendered HTML, not of a layout file.
      const place = warning.path
        ? `${warning.path}${warning.line ? `:${warning.line}` : ""}`
        : warning.line ? `HTML line ${warning.line}` : null;
      const where = [
        place,
        warning.element ? (warning.element.startsWith("<") ? warning.element : `<${warning.element}>`) : null,
        warning.clients?.length ? `in ${warning.clients.join(", ")}` : null,
      ].filter(Boolean).join(" · ");
      return el("li", {
        "data-testid": "warning",
        "data-rule": warning.rule,
        "data-severity": warning.severity,
        class: warning.severity === "error" ? "error" : "warning",
      },
        el("span", { class: "severity", text: warning.severity === "error" ? "error" : "warning" }),
        el("span", { class: "rule", text: warning.rule }),
        el("span", { class: "message", text: warning.message }),
        where ? el("span", { class: "where", text: where }) : null,
      );
    }),
  );
}

// ---------------------------------------------------------------- compare

function toggleCompare(customer, on) {
  state.known.set(customer.id, customer);
  if (on && !state.compare.includes(customer.id) && state.compare.length < COMPARE_MAX) state.compare.push(customer.id);
  if (!on) state.compare = state.compare.filter((id) => id !== customer.id);
  afterCompareChange();
}

function afterCompareChange() {
  drawCompareList();
  drawResults();
  writeUrl();
  if (state.tab === "compare") refreshCompare();
}

function drawCompareList() {
  $("compare-list").replaceChildren(
    ...state.compare.map((id) => {
      const customer = state.known.get(id);
      return el("li", { "data-testid": "compare-chip", "data-customer": id },
        customer?.name || id,
        el("button", {
          type: "button",
          "aria-label": `Remove ${customer?.name || id} from the comparison`,
          onclick: () => { state.compare = state.compare.filter((other) => other !== id); afterCompareChange(); },
        }, "×"),
      );
    }),
  );
  $("compare-open").disabled = state.compare.length < 2;
  $("compare-open").textContent = `Compare${state.compare.length ? ` (${state.compare.length})` : ""}`;
  $("compare-add").disabled = !state.customer || state.compare.includes(state.customer) || state.compare.length >= COMPARE_MAX;
}

function scaleOf(box) {
  return Number(box.style.getPropertyValue("--scale")) || 1;
}

function fitCompareFrames() {
  for (const box of document.querySelectorAll(".compare-frame-box")) {
    const scale = Math.min(1, box.clientWidth / 600) || 1;
    box.style.setProperty("--scale", String(scale));
    const frame = box.querySelector("iframe");
    if (frame) fitFrame(frame);
  }
}

let compares = 0;

async function refreshCompare() {
  const grid = $("compare-grid");
  const hint = $("compare-hint");
  if (state.compare.length < 2) {
    ++sequence.compare;
    hint.hidden = false;
    grid.replaceChildren();
    return;
  }
  const mine = ++sequence.compare;
  let reply;
  try {
    reply = await api("api/compare", { ...renderParams(), customers: state.compare.join(",") });
  } catch {
    return; // the live status says when the server is gone
  }
  if (mine !== sequence.compare) return;
  const { ok, status, body } = reply;
  hint.hidden = true;
  if (!ok) {
    grid.replaceChildren(el("div", { class: "error-box", role: "alert", "data-testid": "compare-error",
      text: body.message || `The server answered ${status}.` }));
    grid.dataset.renders = String(++compares);
    return;
  }
  // Keep each frame's scroll position when the same customers are shown again.
  const scrolls = new Map([...grid.querySelectorAll(".compare-cell")].map((cell) =>
    [cell.dataset.customer, cell.querySelector("iframe")?.contentWindow?.scrollY ?? 0]));
  grid.style.setProperty("--columns", String(body.renders.length));
  const loads = [];
  grid.replaceChildren(
    ...body.renders.map((result) => {
      const id = result.customer?.id ?? result.customer;
      if (result.error) {
        const where = [result.file, result.line ? `line ${result.line}` : null].filter(Boolean).join(", ");
        return el("article", { class: "compare-cell", "data-testid": "compare-cell", "data-customer": id },
          el("h3", { "data-testid": "compare-name", text: state.known.get(id)?.name || id }),
          el("div", { class: "error-box", role: "alert", "data-testid": "compare-error" },
            where ? el("p", { class: "where", text: where }) : null,
            el("p", { text: result.message }),
          ),
        );
      }
      const customer = ownCustomer(result.customer);
      state.known.set(customer.id, customer);
      const frame = el("iframe", {
        title: `Preview for ${customer.name}`,
        sandbox: "allow-same-origin allow-popups",
        "data-testid": "compare-frame",
        "data-customer": customer.id,
      });
      const box = el("div", { class: "compare-frame-box" }, frame);
      const products = Object.entries(result.products ?? {}).flatMap(([group, items]) =>
        items.map((p) => el("li", {},
          `${p.title} · ${p.price} `,
          el("span", { class: "reason", text: `(${group}: ${p.reason})` }))));
      const cell = el("article", { class: "compare-cell", "data-testid": "compare-cell", "data-customer": customer.id },
        el("h3", { "data-testid": "compare-name", text: customer.name }),
        el("p", {
          class: "meta",
          text: [result.locale, result.currency, customer.segment ? `segment ${customer.segment}` : null]
            .filter(Boolean).join(" · "),
        }),
        box,
        products.length ? el("ol", { "data-testid": "compare-products" }, products) : null,
      );
      loads.push({ frame, html: result.html, y: scrolls.get(customer.id) ?? 0 });
      return cell;
    }),
  );
  drawCompareList();
  fitCompareFrames();
  await Promise.all(loads.map(async ({ frame, html, y }) => {
    frame.style.height = `${COMPARE_FRAME_HEIGHT}px`;
    await showInFrame(frame, html);
    if (y) frame.contentWindow.scrollTo(0, y);
  }));
  if (mine === sequence.compare) grid.dataset.renders = String(++compares);
}

// ---------------------------------------------------------------- tabs

function setTab(tab) {
  state.tab = tab;
  for (const button of document.querySelectorAll('[role="tab"]')) {
    const selected = button.dataset.tab === tab;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
  }
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== tab;
  writeUrl();
  if (tab === "compare") refreshCompare();
}

function onTabKey(event) {
  const index = TABS.indexOf(state.tab);
  const next = event.key === "ArrowRight" ? index + 1 : event.key === "ArrowLeft" ? index - 1 : null;
  if (next === null) return;
  const tab = TABS[(next + TABS.length) % TABS.length];
  setTab(tab);
  document.querySelector(`[role="tab"][data-tab="${tab}"]`).focus();
}

// ---------------------------------------------------------------- send test

async function sendTest(event) {
  event.preventDefault();
  const form = event.target;
  const result = $("send-result");
  const button = $("send-submit");
  const to = form.elements.to.value.trim();
  const seeds = form.elements.seeds.checked;
  result.hidden = false;
  result.classList.remove("failed");
  if (!to && !seeds) {
    result.classList.add("failed");
    result.textContent = "Give an address or tick the seed list.";
    return;
  }
  if (!state.customer) {
    result.classList.add("failed");
    result.textContent = "Choose a customer first.";
    return;
  }
  const payload = { ...renderParams(), customer: state.customer, to: to || null, seeds };
  for (const key of ["locale", "currency"]) if (!payload[key]) delete payload[key];
  button.disabled = true;
  result.textContent = "Sending…";
  try {
    const { ok, status, body } = await api("api/send-test", {}, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(payload),
    });
    if (ok) {
      result.textContent = body.sent.length
        ? `Sent to ${body.sent.join(", ")} (${body.transport}).`
        : `Nothing was sent (${body.transport}).`;
    } else {
      result.classList.add("failed");
      result.textContent = body.message || `The server answered ${status}.`;
    }
  } catch {
    result.classList.add("failed");
    result.textContent = "The preview server cannot be reached.";
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- refresh and live reload

async function refresh({ compare = true } = {}) {
  const work = [render()];
  if (compare && state.tab === "compare") work.push(refreshCompare());
  drawCompareList();
  try {
    await Promise.all(work);
  } catch {
    setLive("The preview server cannot be reached.", { offline: true });
  }
}

async function watchChanges() {
  let wait = 1000;
  for (;;) {
    try {
      const { ok, status, body } = await api("api/changes", { since: state.version, timeout: 25 });
      if (!ok) throw new Error(`changes: ${status}`);
      wait = 1000;
      if (body.version !== state.version) {
        state.version = body.version;
        setLive(`Updated at ${timeNow()}: files changed.`);
        await loadProject().catch(() => {});
        loadPicks();
        await refresh();
      } else {
        setLive(`Live: watching the project (checked ${timeNow()}).`);
      }
    } catch {
      setLive(`The preview server cannot be reached; trying again in ${Math.round(wait / 1000)} s.`, { offline: true });
      await sleep(wait);
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
  }
}

// ---------------------------------------------------------------- start

async function start() {
  readUrl();
  $("customer-search").addEventListener("input", onSearchInput);
  $("customer-search").addEventListener("keydown", onSearchKey);
  $("locale-select").addEventListener("change", (event) => { state.locale = event.target.value; writeUrl(); refresh(); });
  $("currency-select").addEventListener("change", (event) => { state.currency = event.target.value; writeUrl(); refresh(); });
  $("dark-toggle").addEventListener("change", (event) => setDark(event.target.checked));
  $("send-test-form").addEventListener("submit", sendTest);
  $("compare-add").addEventListener("click", () => {
    if (state.customerInfo) toggleCompare(state.customerInfo, true);
  });
  $("compare-open").addEventListener("click", () => setTab("compare"));
  $("compare-clear").addEventListener("click", () => { state.compare = []; afterCompareChange(); });
  for (const button of document.querySelectorAll('[role="tab"]')) {
    button.addEventListener("click", () => setTab(button.dataset.tab));
    button.addEventListener("keydown", onTabKey);
  }
  new ResizeObserver(fitCompareFrames).observe($("compare-grid"));
  setDark(state.dark);
  setTab(state.tab);

  try {
    await loadProject();
  } catch (error) {
    showRenderError(`The project could not be loaded: ${error.message}`);
    setLive("The preview server cannot be reached.", { offline: true });
    return;
  }
  if (!state.campaign && !state.layout) {
    state.campaign = state.project.default.campaign;
    state.layout = state.project.default.layout ?? state.project.layouts[0] ?? null;
    const campaign = state.project.campaigns.find((c) => c.file === state.campaign);
    if (campaign) state.layout = campaign.layout;
    drawSidebar();
  }
  const customer = await (state.customer ? findCustomer(state.customer) : firstCustomer()).catch(() => null);
  if (customer) {
    state.customer = customer.id;
    state.customerInfo = customer;
    state.known.set(customer.id, customer);
  }
  await Promise.all(state.compare.map(async (id) => {
    const found = await findCustomer(id).catch(() => null);
    if (found) state.known.set(id, found);
  }));
  drawCurrentCustomer();
  writeUrl();
  setLive("Live: watching the project.");
  search("");
  loadPicks();
  if (!state.customer) showRenderError("The customers file lists no customer to preview.");
  await refresh();
  watchChanges();
}

start();
