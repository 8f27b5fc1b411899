// The check-in kiosk: staff enter the kiosk's credentials once; patients scan their appointment
// QR code (USB scanner typing into the focused input, or the camera where the browser can read
// QR codes); the ticket is shown large, can be printed, and the screen resets after a while.
//
// Authentication is the OAuth client-credentials grant with a JWT client assertion (RFC 7523)
// signed here with WebCrypto (Ed25519, or ECDSA P-256). The access token lives in memory only
// and is renewed before it expires; the credentials are kept in localStorage.

import { parseCredentials, SetupError, signingAlgorithm } from "./credentials.js";
import { fitToWidth } from "./fit.js";
import { has, initLanguage, locale, onLanguageChange, roomNamed, t } from "./i18n.js";

const CREDENTIALS_KEY = "healthbook.kiosk.credentials";
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ASSERTION_LIFETIME_S = 60;
const MAX_CODE_LENGTH = 4096;
const params = new URLSearchParams(location.search);
const RESET_SECONDS = boundedInt(params.get("reset"), 3, 600, 20);
const PROBLEM_RESET_SECONDS = Math.min(RESET_SECONDS, 10);

const $ = (id) => document.getElementById(id);
const screens = ["setup", "busy", "ticket", "problem", "scanner"];

function boundedInt(text, low, high, fallback) {
  const value = Number.parseInt(text ?? "", 10);
  return Number.isFinite(value) ? Math.min(high, Math.max(low, value)) : fallback;
}

// ---------------------------------------------------------------------------------------------
// Credentials and signing

const encoder = new TextEncoder();

function base64url(bytes) {
  let binary = "";
  for (const byte of new Uint8Array(bytes)) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function base64urlJson(value) {
  return base64url(encoder.encode(JSON.stringify(value)));
}

async function importSigningKey(jwk, algorithm) {
  if (!globalThis.crypto?.subtle) {
    throw new SetupError("setup.error.no_webcrypto"); // WebCrypto needs HTTPS (or loopback)
  }
  // Only the key members: WebCrypto refuses some `alg` spellings, and `kid`/`use` are ours.
  const material = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d };
  if (jwk.y) {
    material.y = jwk.y;
  }
  try {
    return await crypto.subtle.importKey("jwk", material, algorithm.key, false, ["sign"]);
  } catch {
    throw new SetupError("setup.error.no_webcrypto");
  }
}

function loadCredentials() {
  try {
    const stored = JSON.parse(localStorage.getItem(CREDENTIALS_KEY) || "null");
    if (stored && typeof stored.clientId === "string" && stored.jwk && stored.jwk.d) {
      return stored;
    }
  } catch {
    // unreadable: set up again
  }
  return null;
}

function saveCredentials(credentials) {
  localStorage.setItem(CREDENTIALS_KEY, JSON.stringify(credentials));
}

// ---------------------------------------------------------------------------------------------
// The API client: token renewal and check-in

class CredentialsRejected extends Error {}
class Unreachable extends Error {}

class KioskClient {
  constructor(credentials) {
    this.clientId = credentials.clientId;
    this.jwk = credentials.jwk;
    this.algorithm = signingAlgorithm(this.jwk);
    this.key = null;
    this.tokenEndpoint = null;
    this.clockOffsetMs = 0;
    this.accessToken = null;
    this.expiresAt = 0;
    this.renewTimer = null;
    this.renewing = null;
    this.retryDelayMs = 2000;
    this.stopped = false;
    this.onStatus = () => {};
    this.onRejected = () => {};
  }

  async start() {
    this.key = await importSigningKey(this.jwk, this.algorithm);
    await this.renew();
  }

  stop() {
    clearTimeout(this.renewTimer);
    this.stopped = true;
    this.accessToken = null;
  }

  async discover() {
    let response;
    try {
      response = await fetch("/.well-known/oauth-authorization-server", { cache: "no-store" });
    } catch {
      throw new Unreachable();
    }
    if (!response.ok) {
      throw new Unreachable();
    }
    const serverDate = Date.parse(response.headers.get("date") || "");
    // A kiosk's clock may drift; assertions carry the server's time (second precision).
    if (Number.isFinite(serverDate) && Math.abs(serverDate - Date.now()) > 5000) {
      this.clockOffsetMs = serverDate - Date.now();
    }
    this.tokenEndpoint = (await response.json()).token_endpoint;
  }

  async assertion() {
    const now = Math.floor((Date.now() + this.clockOffsetMs) / 1000);
    const header = { alg: this.algorithm.jws, typ: "JWT" };
    if (this.jwk.kid) {
      header.kid = this.jwk.kid;
    }
    const claims = {
      iss: this.clientId,
      sub: this.clientId,
      aud: this.tokenEndpoint,
      iat: now,
      exp: now + ASSERTION_LIFETIME_S,
      jti: base64url(crypto.getRandomValues(new Uint8Array(18))),
    };
    const input = `${base64urlJson(header)}.${base64urlJson(claims)}`;
    const signature = await crypto.subtle.sign(this.algorithm.sign, this.key, encoder.encode(input));
    return `${input}.${base64url(signature)}`;
  }

  /** Get a new access token (one request at a time); schedule the next renewal. */
  renew() {
    if (!this.renewing) {
      this.renewing = this.requestToken().finally(() => {
        this.renewing = null;
      });
    }
    return this.renewing;
  }

  async requestToken() {
    clearTimeout(this.renewTimer);
    if (!this.tokenEndpoint) {
      try {
        await this.discover();
      } catch (error) {
        this.scheduleRetry();
        throw error;
      }
    }
    const body = new URLSearchParams({
      grant_type: "client_credentials",
      client_assertion_type: JWT_BEARER,
      client_assertion: await this.assertion(),
    });
    let response;
    try {
      response = await fetch("/auth/token", { method: "POST", body, cache: "no-store" });
    } catch {
      this.scheduleRetry();
      throw new Unreachable();
    }
    if (response.status === 400 || response.status === 401) {
      this.accessToken = null;
      this.onRejected();
      throw new CredentialsRejected();
    }
    if (!response.ok) {
      this.scheduleRetry();
      throw new Unreachable();
    }
    const answer = await response.json();
    this.accessToken = answer.access_token;
    const lifetimeS = Math.max(Number(answer.expires_in) || 300, 30);
    this.expiresAt = Date.now() + lifetimeS * 1000;
    this.retryDelayMs = 2000;
    // renew at 80% of the lifetime, and at least a minute before the end when it is long
    const renewInS = Math.max(10, Math.min(lifetimeS * 0.8, lifetimeS - 60));
    if (!this.stopped) {
      this.renewTimer = setTimeout(() => this.renew().catch(() => {}), renewInS * 1000);
      this.onStatus("ready");
    }
    return this.accessToken;
  }

  scheduleRetry() {
    if (this.stopped) {
      return;
    }
    this.onStatus("offline");
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => this.renew().catch(() => {}), this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 60000);
  }

  async token() {
    if (!this.accessToken || Date.now() > this.expiresAt - 30000) {
      await this.renew();
    }
    return this.accessToken;
  }

  /** POST the scanned code: {ok: true, ticket} or {ok: false, problem: key, status}. */
  async checkIn(code, retried = false) {
    let token;
    try {
      token = await this.token();
    } catch (error) {
      return { ok: false, problem: error instanceof CredentialsRejected ? "kiosk" : "network" };
    }
    let response;
    try {
      response = await fetch("/kiosk/check-ins", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ code }),
        cache: "no-store",
      });
    } catch {
      return { ok: false, problem: "network" };
    }
    if (response.status === 401 && !retried) {
      this.accessToken = null; // expired or revoked early: one fresh token, one more try
      return this.checkIn(code, true);
    }
    if (response.ok) {
      return { ok: true, ticket: await response.json() };
    }
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      // not a problem document
    }
    return { ok: false, problem: problemKey(problem, response.status), status: response.status };
  }
}

/** The string key prefix for a problem document: its type's slug when we have words for it. */
function problemKey(problem, status) {
  const slug = String(problem?.type || "").split("/").pop();
  if (slug && has(`problem.${slug}.title`)) {
    return slug;
  }
  if (status === 401 || status === 403) {
    return "kiosk";
  }
  if (status === 503 || status === 502 || status === 504 || status === 429) {
    return "unavailable";
  }
  return "generic";
}

// ---------------------------------------------------------------------------------------------
// Screen

let client = null;
let screen = null;
let busy = false;
let resetTimer = null;
let resetDeadline = 0;
let lastTicket = null;
let lastProblem = null;

function show(...visible) {
  for (const id of screens) {
    $(id).hidden = !visible.includes(id);
  }
  screen = visible[0];
  document.body.dataset.screen = screen;
}

function setStatus(state) {
  const status = $("kiosk-status");
  status.dataset.i18n = `kiosk.status.${state}`;
  status.dataset.state = state;
  status.textContent = t(`kiosk.status.${state}`);
}

function announce(text) {
  const region = $("announcer");
  region.textContent = "";
  // a fresh text node after a tick, so screen readers announce the same words twice in a row
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

function focusScanner() {
  if (!$("scanner").hidden) {
    $("scan-input").focus({ preventScroll: true });
  }
}

function clearReset() {
  clearInterval(resetTimer);
  resetTimer = null;
}

let resetNote = null;

function resetTick() {
  const left = Math.max(0, Math.ceil((resetDeadline - Date.now()) / 1000));
  $(resetNote).textContent = t("ticket.reset", { n: left });
  if (left <= 0) {
    backToScanning();
  }
}

function startReset(seconds, noteId) {
  clearReset();
  resetDeadline = Date.now() + seconds * 1000;
  resetNote = noteId;
  resetTick();
  resetTimer = setInterval(resetTick, 1000);
}

function backToScanning() {
  clearReset();
  lastTicket = null;
  lastProblem = null;
  show("scanner");
  focusScanner();
}

function formatTime(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) {
    return { time: "", date: "" };
  }
  return {
    time: when.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" }),
    date: when.toLocaleDateString(locale(), { day: "2-digit", month: "2-digit", year: "numeric" }),
  };
}

function renderTicket(ticket) {
  $("ticket-facility").textContent = ticket.facility_name || "";
  $("ticket-label").textContent = ticket.label;
  $("ticket-department").textContent = ticket.department_name || ticket.department;
  $("ticket-room-row").hidden = !ticket.room;
  $("ticket-room").textContent = ticket.room || "";
  const ahead = Number(ticket.people_ahead) || 0;
  $("ticket-ahead").textContent = ahead > 0 ? String(ahead) : t("ticket.ahead.none");
  const wait = Number(ticket.estimated_wait_minutes) || 0;
  $("ticket-wait").textContent =
    wait > 0 ? t("ticket.wait.minutes", { n: wait }) : t("ticket.wait.none");
  $("ticket-issued").textContent = t("ticket.issued", formatTime(ticket.issued_at));
  // a required intake form not completed yet: printed on the ticket (check-in went ahead)
  $("ticket-message").hidden = !ticket.message;
  $("ticket-message").textContent = ticket.message || "";
}

function showTicket(ticket) {
  lastTicket = ticket;
  renderTicket(ticket);
  show("ticket"); // the scan field and camera come back with the next scan (see keepScannerFocused)
  fitToWidth($("ticket-label"));
  const values = {
    label: ticket.label,
    department: ticket.department_name || ticket.department,
    room: ticket.room,
  };
  let announcement = "ticket.announce";
  if (ticket.room) {
    announcement = roomNamed(ticket.room) ? "ticket.announce.place" : "ticket.announce.room";
  }
  announce(t(announcement, values));
  startReset(RESET_SECONDS, "ticket-reset");
}

function renderProblem(key) {
  $("problem-title").textContent = t(`problem.${key}.title`);
  $("problem-hint").textContent = t(`problem.${key}.hint`);
}

function showProblem(key) {
  lastProblem = key;
  renderProblem(key);
  show("problem");
  announce(`${t(`problem.${key}.title`)}. ${t(`problem.${key}.hint`)}`);
  startReset(PROBLEM_RESET_SECONDS, "problem-reset");
}

async function submitCode(raw) {
  const code = raw.trim();
  if (!code || busy || !client) {
    return;
  }
  if (code.length > MAX_CODE_LENGTH) {
    showProblem("check-in-code-invalid");
    return;
  }
  busy = true;
  clearReset();
  show("busy");
  try {
    const result = await client.checkIn(code);
    if (!client) {
      return; // the credentials were refused meanwhile: the setup form is showing
    }
    if (result.ok) {
      showTicket(result.ticket);
    } else {
      showProblem(result.problem);
    }
  } finally {
    busy = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Camera scanning (BarcodeDetector where the browser has it)

const camera = { stream: null, timer: null, detector: null };

async function cameraSupported() {
  if (!("BarcodeDetector" in globalThis) || !navigator.mediaDevices?.getUserMedia) {
    return false;
  }
  try {
    const formats = await globalThis.BarcodeDetector.getSupportedFormats();
    return formats.includes("qr_code");
  } catch {
    return false;
  }
}

function stopCamera() {
  clearInterval(camera.timer);
  camera.timer = null;
  if (camera.stream) {
    for (const track of camera.stream.getTracks()) {
      track.stop();
    }
  }
  camera.stream = null;
  const video = $("camera-view");
  video.srcObject = null;
  video.hidden = true;
  const button = $("camera-button");
  button.dataset.i18n = "camera.start";
  button.textContent = t("camera.start");
  $("camera-message").textContent = "";
}

async function startCamera() {
  const video = $("camera-view");
  try {
    camera.detector = camera.detector || new globalThis.BarcodeDetector({ formats: ["qr_code"] });
    camera.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: false,
    });
  } catch {
    stopCamera();
    $("camera-message").textContent = t("camera.denied");
    return;
  }
  video.srcObject = camera.stream;
  video.hidden = false;
  await video.play().catch(() => {});
  const button = $("camera-button");
  button.dataset.i18n = "camera.stop";
  button.textContent = t("camera.stop");
  $("camera-message").textContent = t("camera.looking");
  camera.timer = setInterval(async () => {
    if (busy || video.readyState < 2) {
      return;
    }
    try {
      const codes = await camera.detector.detect(video);
      if (codes.length > 0 && camera.stream) {
        stopCamera();
        submitCode(codes[0].rawValue);
      }
    } catch {
      // a frame that could not be read: try the next one
    }
  }, 250);
}

async function setUpCamera() {
  const button = $("camera-button");
  if (!(await cameraSupported())) {
    button.hidden = true;
    $("camera-message").dataset.i18n = "camera.unsupported";
    $("camera-message").textContent = t("camera.unsupported");
    return;
  }
  button.hidden = false;
  button.addEventListener("click", () => (camera.stream ? stopCamera() : startCamera()));
}

// ---------------------------------------------------------------------------------------------
// Setup and start

function showSetup(messageKey) {
  if (client) {
    client.stop();
    client = null;
  }
  stopCamera();
  clearReset();
  show("setup");
  setStatus("setup");
  const stored = loadCredentials();
  if (stored && !$("client-id").value) {
    $("client-id").value = stored.clientId;
  }
  const message = $("setup-message");
  message.dataset.i18n = messageKey || "";
  message.textContent = messageKey ? t(messageKey) : "";
  $(stored ? "private-key" : "client-id").focus();
}

async function connect(credentials, { keepRetrying }) {
  const candidate = new KioskClient(credentials);
  candidate.onStatus = setStatus;
  candidate.onRejected = () => showSetup("setup.error.rejected");
  setStatus("connecting");
  client = candidate;
  try {
    await candidate.start();
  } catch (error) {
    if (error instanceof Unreachable && keepRetrying) {
      return; // the client retries by itself; the status line says "offline" meanwhile
    }
    candidate.stop();
    if (client === candidate) {
      client = null;
    }
    throw error;
  }
}

async function onSetupSubmit(event) {
  event.preventDefault();
  const message = $("setup-message");
  let credentials;
  try {
    credentials = parseCredentials($("client-id").value, $("private-key").value);
    $("client-id").value = credentials.clientId; // the id read from what was pasted
  } catch (error) {
    message.dataset.i18n = error.key || "setup.error.bad_key";
    message.textContent = t(message.dataset.i18n);
    return;
  }
  message.dataset.i18n = "setup.checking";
  message.textContent = t("setup.checking");
  try {
    await connect(credentials, { keepRetrying: false });
  } catch (error) {
    let key = "setup.error.network";
    if (error instanceof SetupError) {
      key = error.key;
    } else if (error instanceof CredentialsRejected) {
      key = "setup.error.rejected";
    }
    message.dataset.i18n = key;
    message.textContent = t(key);
    return;
  }
  saveCredentials(credentials);
  $("private-key").value = "";
  message.textContent = "";
  announce(t("setup.saved"));
  backToScanning();
}

async function resume(credentials) {
  // Stored credentials: straight to scanning. An unreachable server is retried in the
  // background (the status line says so); refused credentials bring the setup form back.
  show("scanner");
  focusScanner();
  try {
    await connect(credentials, { keepRetrying: true });
  } catch (error) {
    showSetup(error instanceof SetupError ? error.key : "setup.error.rejected");
  }
}

function keepScannerFocused() {
  // A USB scanner types into whatever has focus: bring focus back to the code field whenever
  // it would otherwise rest on nothing (after a click on the background, a reset...).
  document.addEventListener("focusout", () => {
    setTimeout(() => {
      const active = document.activeElement;
      if (screen !== "setup" && (!active || active === document.body)) {
        focusScanner();
      }
    }, 0);
  });
  document.addEventListener("click", (event) => {
    // a tap on the background, or on a button (event.detail > 0: a pointer, not the keyboard)
    const control = event.target.closest("button, input, textarea, a, video");
    if (screen !== "setup" && (!control || (control.tagName === "BUTTON" && event.detail > 0))) {
      focusScanner();
    }
  });
  // Text typed while a button has focus (a scanner after someone pressed Tab) belongs in the
  // code field: move focus there before the character lands. While a ticket or a problem is on
  // screen the scan field is hidden: the next person's scan brings it back, first character
  // included.
  document.addEventListener("keydown", (event) => {
    const active = document.activeElement;
    if (
      screen === "setup" ||
      screen === "busy" ||
      event.ctrlKey ||
      event.metaKey ||
      event.altKey ||
      event.key.length !== 1 ||
      event.key === " " ||
      active instanceof HTMLInputElement ||
      active instanceof HTMLTextAreaElement
    ) {
      return;
    }
    if (screen === "ticket" || screen === "problem") {
      backToScanning();
    } else {
      focusScanner();
    }
  });
}

function rerender() {
  if (lastTicket && !$("ticket").hidden) {
    renderTicket(lastTicket);
  }
  if (lastProblem && !$("problem").hidden) {
    renderProblem(lastProblem);
  }
  if (resetTimer) {
    resetTick();
  }
}

function main() {
  initLanguage();
  onLanguageChange(rerender);
  $("setup-form").addEventListener("submit", onSetupSubmit);
  $("scan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("scan-input");
    const code = input.value;
    input.value = "";
    submitCode(code);
  });
  $("print-button").addEventListener("click", () => {
    startReset(RESET_SECONDS, "ticket-reset");
    window.print();
    focusScanner();
  });
  $("done-button").addEventListener("click", backToScanning);
  $("again-button").addEventListener("click", backToScanning);
  window.addEventListener("resize", () => {
    if (!$("ticket").hidden) {
      fitToWidth($("ticket-label"));
    }
  });
  keepScannerFocused();
  setUpCamera();
  const stored = loadCredentials();
  if (params.has("setup") || !stored) {
    showSetup(null);
  } else {
    resume(stored);
  }
}

main();
