// The SMART Health Link viewer: reads the link from the address's fragment (#shlink:/…), asks
// for the reader's name and the passcode, fetches the manifest and its files from this
// service, decrypts them here and shows the record. The key stays in this page: only the
// manifest URL, the reader's name, the passcode and the file URLs are ever sent.

import { el, renderBundle } from "./fhir.js";
import { currentLanguage, initLanguage, locale, onLanguageChange, t } from "./i18n.js";
import {
  ViewerError,
  decryptJwe,
  isExpired,
  parseJson,
  parseLink,
  readCard,
  verifyCard,
} from "./shl.js";

const RECIPIENT_KEY = "healthbook.viewer.recipient";
const FETCH_OPTIONS = { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
const SHL_CARD = "application/smart-health-card";
const FHIR_JSON = "application/fhir+json";
const PDF = "application/pdf";

const $ = (id) => document.getElementById(id);

const state = {
  link: null,
  message: null, // {code, values}
  status: null,
  results: null, // what the files held, rendered again on a language switch
  fetchedAt: null,
  busy: false,
};

/** This service's base URL: where the page is served, less /viewer (the cards' `iss`). */
function serviceBase() {
  return location.origin + location.pathname.replace(/\/viewer\/?$/, "");
}

function remembered() {
  try {
    return localStorage.getItem(RECIPIENT_KEY) || "";
  } catch {
    return "";
  }
}

function remember(name) {
  try {
    localStorage.setItem(RECIPIENT_KEY, name);
  } catch {
    // storage disabled: the name is asked again next time
  }
}

function formatTime(epochMs) {
  return new Intl.DateTimeFormat(locale(), { dateStyle: "long", timeStyle: "short" }).format(
    new Date(epochMs),
  );
}

function showMessage(code, values = {}) {
  state.message = code ? { code, values } : null;
  $("message").textContent = code ? t(code, values) : "";
}

function showStatus(key) {
  state.status = key;
  $("status").textContent = key ? t(key) : "";
}

function showLink() {
  const link = state.link;
  $("link").hidden = false;
  $("link-label").textContent = link.label || t("link.no_label");
  $("link-expires").textContent = link.exp === null ? t("link.no_expiry") : formatTime(link.exp * 1000);
  const kinds = [t(link.flag.includes("L") ? "link.kind.long_term" : "link.kind.one_time")];
  if (link.flag.includes("P")) {
    kinds.push(t("link.passcode"));
  }
  $("link-kind").textContent = kinds.join(" · ");
}

function load(text) {
  state.results = null;
  $("record").hidden = true;
  $("open").hidden = true;
  $("link").hidden = true;
  showStatus(null);
  showMessage(null);
  try {
    state.link = parseLink(text);
  } catch (error) {
    state.link = null;
    $("paste").hidden = false;
    showMessage(error instanceof ViewerError ? error.code : "error.invalid");
    return;
  }
  $("paste").hidden = true;
  showLink();
  if (isExpired(state.link)) {
    showMessage("error.expired", { time: formatTime(state.link.exp * 1000) });
    return;
  }
  const origin = new URL(state.link.url).origin;
  if (origin !== location.origin) {
    showMessage("error.other_server", { origin });
    return;
  }
  $("open").hidden = false;
  const usesPasscode = state.link.flag.includes("P");
  $("passcode-field").hidden = !usesPasscode;
  $("passcode").required = usesPasscode;
  $("passcode").value = "";
  const recipient = $("recipient");
  recipient.value = recipient.value || remembered();
  (recipient.value ? (usesPasscode ? $("passcode") : $("open-submit")) : recipient).focus();
}

async function send(url, init) {
  try {
    return await fetch(url, { ...FETCH_OPTIONS, ...init });
  } catch {
    throw new ViewerError("error.network");
  }
}

async function refused(response) {
  if (response.status === 404) {
    return new ViewerError("error.not_found");
  }
  if (response.status === 429) {
    const seconds = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    return new ViewerError("error.too_many", { seconds: Number.isFinite(seconds) ? seconds : 60 });
  }
  if (response.status === 401) {
    let remaining = null;
    try {
      remaining = (await response.json()).remainingAttempts;
    } catch {
      remaining = null;
    }
    if (remaining === 0) {
      return new ViewerError("error.passcode.locked");
    }
    if (remaining === 1) {
      return new ViewerError("error.passcode.last");
    }
    if (typeof remaining === "number") {
      return new ViewerError("error.passcode", { count: remaining });
    }
    return new ViewerError("error.no_passcode");
  }
  return new ViewerError("error.server", { status: response.status });
}

/** The link's files as {contentType, jwe}: the manifest's, or the one file of a U link. */
async function fetchFiles(link, recipient, passcode) {
  if (link.flag.includes("U")) {
    const separator = link.url.includes("?") ? "&" : "?";
    const response = await send(
      `${link.url}${separator}recipient=${encodeURIComponent(recipient)}`,
      { method: "GET" },
    );
    if (!response.ok) {
      throw await refused(response);
    }
    return [{ contentType: null, jwe: await response.text() }];
  }
  const body = { recipient };
  if (link.flag.includes("P")) {
    body.passcode = passcode;
  }
  const response = await send(link.url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    throw await refused(response);
  }
  let manifest;
  try {
    manifest = await response.json();
  } catch {
    throw new ViewerError("error.server", { status: response.status });
  }
  const files = [];
  for (const file of Array.isArray(manifest.files) ? manifest.files : []) {
    if (typeof file.embedded === "string") {
      files.push({ contentType: file.contentType, jwe: file.embedded });
    } else if (typeof file.location === "string") {
      if (new URL(file.location).origin !== location.origin) {
        files.push({ error: "error.other_server", values: { origin: new URL(file.location).origin } });
        continue;
      }
      const answer = await send(file.location, { method: "GET" });
      if (!answer.ok) {
        throw await refused(answer);
      }
      files.push({ contentType: file.contentType, jwe: await answer.text() });
    }
  }
  return files;
}

let jwks = null;
function fetchJwks() {
  if (jwks === null) {
    jwks = send(`${serviceBase()}/.well-known/jwks.json`, { method: "GET" }).then((response) => {
      if (!response.ok) {
        throw new ViewerError("card.reason.jwks");
      }
      return response.json();
    });
    jwks.catch(() => {
      jwks = null; // try again for the next card
    });
  }
  return jwks;
}

async function openCard(jws) {
  let card;
  try {
    card = await readCard(jws);
  } catch (error) {
    return { kind: "card", card: null, verified: false, reason: error.code || "card.reason.format" };
  }
  const verification = await verifyCard(card, serviceBase(), fetchJwks);
  return { kind: "card", card, ...verification };
}

/** What one file holds: FHIR, health cards, or why it cannot be shown. */
async function openFile(file, key) {
  if (file.error) {
    return [{ kind: "error", code: file.error, values: file.values }];
  }
  let decrypted;
  try {
    decrypted = await decryptJwe(file.jwe, key);
  } catch (error) {
    return [{ kind: "error", code: error.code || "error.decrypt", values: {} }];
  }
  const type = file.contentType || decrypted.header.cty || FHIR_JSON;
  try {
    if (type === FHIR_JSON) {
      return [{ kind: "fhir", resource: parseJson(decrypted.bytes, type) }];
    }
    if (type === PDF) {
      return [{ kind: "pdf", bytes: decrypted.bytes }];
    }
    if (type === SHL_CARD) {
      const cards = parseJson(decrypted.bytes, type).verifiableCredential;
      if (!Array.isArray(cards)) {
        throw new ViewerError("error.file", { type });
      }
      return Promise.all(cards.map(openCard));
    }
  } catch (error) {
    return [{ kind: "error", code: error.code || "error.file", values: error.values || { type } }];
  }
  return [{ kind: "error", code: "error.unsupported", values: { type } }];
}

function renderCard(result) {
  const parts = [el("h3", {}, t("card.heading"))];
  const badge = result.verified
    ? el("p", { className: "badge verified", "data-verified": "true" }, t("card.verified"))
    : el(
        "p",
        { className: "badge not-verified", "data-verified": "false" },
        `${t("card.not_verified")}: ${t(result.reason)}`,
      );
  parts.push(badge);
  if (result.card) {
    const { payload } = result.card;
    parts.push(el("p", { className: "card-meta" }, t("card.issuer", { issuer: payload.iss })));
    if (typeof payload.nbf === "number") {
      parts.push(el("p", { className: "card-meta" }, t("card.issued", { time: formatTime(payload.nbf * 1000) })));
    }
    const bundle = payload.vc?.credentialSubject?.fhirBundle;
    if (bundle) {
      parts.push(renderBundle(bundle, { full: false }));
    }
  }
  return el("section", { className: "health-card", "data-card": result.verified ? "verified" : "not-verified" }, parts);
}

/** The share's PDF: a download link to the decrypted bytes (a blob URL, never a server URL). */
function renderPdf(result) {
  const url = URL.createObjectURL(new Blob([result.bytes], { type: PDF }));
  const size = `${Math.max(1, Math.round(result.bytes.length / 1024))} KB`;
  const link = el("a", { href: url, download: "so-suc-khoe.pdf", className: "pdf-download" }, t("pdf.download", { size }));
  return el("section", { className: "shared-pdf", "data-pdf": "true" }, [el("h3", {}, t("pdf.heading")), el("p", {}, link)]);
}

function renderRecord() {
  const body = $("record-body");
  body.replaceChildren();
  for (const result of state.results || []) {
    if (result.kind === "fhir") {
      const resource = result.resource;
      const bundle =
        resource?.resourceType === "Bundle" ? resource : { resourceType: "Bundle", entry: [{ resource }] };
      body.append(renderBundle(bundle, { full: true }));
    } else if (result.kind === "card") {
      body.append(renderCard(result));
    } else if (result.kind === "pdf") {
      body.append(renderPdf(result));
    } else {
      body.append(el("p", { className: "file-error", role: "note" }, t(result.code, result.values)));
    }
  }
  $("record-meta").textContent = `${t("record.shared_by")} · ${t("record.fetched", {
    time: formatTime(state.fetchedAt),
  })}`;
  $("record").hidden = false;
  $("refresh").hidden = !state.link?.flag.includes("L");
}

async function openRecord() {
  if (state.busy || !state.link) {
    return;
  }
  const recipient = $("recipient").value.trim();
  const passcode = $("passcode").value;
  if (!recipient) {
    showMessage("error.no_recipient");
    $("recipient").focus();
    return;
  }
  if (state.link.flag.includes("P") && !passcode) {
    showMessage("error.no_passcode");
    $("passcode").focus();
    return;
  }
  remember(recipient);
  state.busy = true;
  $("open-submit").disabled = true;
  $("refresh").disabled = true;
  showMessage(null);
  showStatus("open.busy");
  try {
    const files = await fetchFiles(state.link, recipient, passcode);
    const opened = await Promise.all(files.map((file) => openFile(file, state.link.key)));
    state.results = opened.flat();
    state.fetchedAt = Date.now();
    renderRecord();
    $("open").hidden = true;
    showStatus("open.done");
    $("record-heading").focus();
  } catch (error) {
    showStatus(null);
    const code = error instanceof ViewerError ? error.code : "error.decrypt";
    showMessage(code, error.values || {});
    if (code === "error.not_found" || code === "error.passcode.locked") {
      $("open").hidden = true;
      $("record").hidden = true;
    } else if (code.startsWith("error.passcode") || code === "error.no_passcode") {
      $("passcode").value = "";
      $("passcode").focus();
    }
  } finally {
    state.busy = false;
    $("open-submit").disabled = false;
    $("refresh").disabled = false;
  }
}

function start() {
  initLanguage();
  $("record-heading").tabIndex = -1;
  $("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    openRecord();
  });
  $("refresh").addEventListener("click", () => openRecord());
  $("print").addEventListener("click", () => window.print());
  $("paste-form").addEventListener("submit", (event) => {
    event.preventDefault();
    load($("paste-input").value);
  });
  onLanguageChange(() => {
    if (state.link) {
      showLink();
    }
    if (state.message) {
      showMessage(state.message.code, state.message.values);
    }
    showStatus(state.status);
    if (state.results) {
      renderRecord();
    }
  });
  window.addEventListener("hashchange", () => load(location.hash));
  if (location.hash.includes("shlink:/")) {
    load(location.hash);
  } else {
    $("paste").hidden = false;
  }
  document.body.dataset.ready = currentLanguage();
}

start();
