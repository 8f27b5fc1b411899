// The queue board for a waiting-room screen: /board/{facility_id}/{department}.
// Live over server-sent events (GET /facilities/{id}/queues/{department}/events): the first event
// is the queue's current status, then one `status` event per change. The browser reconnects
// by itself after a dropped connection; when the server refuses the stream (restarting,
// unknown queue) this page reconnects with a growing delay.

import { initLanguage, locale, onLanguageChange, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const RECENT_SHOWN = 4;
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;

const [, , facilityPart = "", departmentPart = ""] = location.pathname.split("/");
const facilityId = decodeURIComponent(facilityPart);
const department = decodeURIComponent(departmentPart);
const queueUrl = `/facilities/${encodeURIComponent(facilityId)}/queues/${encodeURIComponent(department)}`;

let status = null;
let facilityName = "";
let connection = "connecting";
let lastCall = null;
let source = null;
let retryMs = RETRY_MIN_MS;
let retryTimer = null;
let flashTimer = null;

function time(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) {
    return "";
  }
  return when.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
}

function setConnection(state) {
  connection = state;
  const element = $("connection");
  element.dataset.state = state;
  element.textContent = t(`board.${state}`);
}

function renderClock() {
  $("clock").textContent = new Date().toLocaleTimeString(locale(), {
    hour: "2-digit",
    minute: "2-digit",
  });
}

function renderHeading() {
  $("facility-name").textContent = facilityName;
  $("department-name").textContent = status?.department_name || department;
  const parts = [status?.department_name || department, facilityName, t("board.title")];
  document.title = parts.filter(Boolean).join(" — ");
}

/** Shrink a one-line text until it fits its box (long department codes, narrow screens). */
function fitWidth(element) {
  element.style.fontSize = "";
  const text = document.createRange();
  text.selectNodeContents(element);
  const room = element.clientWidth;
  const needed = text.getBoundingClientRect().width;
  if (room > 0 && needed > room) {
    const size = Number.parseFloat(getComputedStyle(element).fontSize);
    element.style.fontSize = `${Math.floor((size * room) / needed)}px`;
  }
}

function render() {
  renderHeading();
  setConnection(connection);
  renderClock();
  if (!status) {
    return;
  }
  const now = status.now_serving;
  const label = $("now-label");
  label.textContent = now ? now.label : t("board.now.none");
  label.classList.toggle("none", !now);
  fitWidth(label);
  $("now-room").textContent = now?.room ? t("board.room", { room: now.room }) : "";

  const list = $("recent-list");
  const calls = (status.recent_calls || []).filter(
    (call, index) => !(index === 0 && now && call.number === now.number),
  );
  list.replaceChildren(
    ...calls.slice(0, RECENT_SHOWN).map((call) => {
      const item = document.createElement("li");
      const number = document.createElement("span");
      number.className = "recent-number";
      number.textContent = call.label;
      item.append(number);
      if (call.room) {
        const room = document.createElement("span");
        room.className = "recent-room";
        room.textContent = t("board.room", { room: call.room });
        item.append(room);
      }
      const at = document.createElement("span");
      at.className = "recent-time";
      at.textContent = t("board.called_at", { time: time(call.called_at) });
      item.append(at);
      return item;
    }),
  );
  $("recent-none").hidden = calls.length > 0;

  $("waiting").textContent = t("board.people", { n: Number(status.waiting) || 0 });
  const average = status.average_service_minutes;
  $("average").textContent =
    average === null || average === undefined
      ? t("board.average.none")
      : t("board.average.value", { n: Math.max(1, Math.round(Number(average))) });
  $("updated").textContent = t("board.updated", { time: time(status.updated_at) });
}

function announceCall() {
  // A new call (or a recall of the same number) changes the latest call's time.
  const latest = status?.recent_calls?.[0];
  const key = latest ? `${status.queue_date}|${latest.label}|${latest.called_at}` : "none";
  const first = lastCall === null;
  if (key === lastCall) {
    return;
  }
  lastCall = key;
  const now = status.now_serving;
  if (first || !now) {
    return; // the page just opened: nothing was called right now
  }
  const region = $("announcer");
  region.textContent = t(now.room ? "board.announce.room" : "board.announce", {
    label: now.label,
    room: now.room,
  });
  const panel = document.querySelector(".now");
  panel.classList.remove("flash");
  // restart the highlight (reading offsetWidth applies the removal before adding it back)
  void panel.offsetWidth;
  panel.classList.add("flash");
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => panel.classList.remove("flash"), 6000);
}

function apply(next) {
  if (!next || typeof next !== "object") {
    return;
  }
  if (status?.updated_at && next.updated_at) {
    const previous = Date.parse(status.updated_at);
    const incoming = Date.parse(next.updated_at);
    if (incoming < previous) {
      return; // an older message overtaken by a newer read
    }
  }
  status = next;
  render();
  announceCall();
}

async function loadFacilityName() {
  try {
    const response = await fetch(`/facilities/${encodeURIComponent(facilityId)}`);
    if (response.ok) {
      facilityName = (await response.json()).name || "";
      renderHeading();
    }
  } catch {
    // the heading shows the department alone
  }
}

function scheduleReconnect(delayMs) {
  clearTimeout(retryTimer);
  const jitter = Math.floor(Math.random() * 1000);
  retryTimer = setTimeout(connect, delayMs + jitter);
}

async function onRefused() {
  // The server answered with something other than an event stream. Ask the plain status
  // endpoint why: an unknown queue is retried slowly, anything else with a growing delay.
  let delay = retryMs;
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  try {
    const response = await fetch(queueUrl, { cache: "no-store" });
    if (response.status === 404) {
      setConnection("not_found");
      delay = RETRY_MAX_MS * 2;
    } else if (response.ok) {
      apply(await response.json());
      setConnection("reconnecting");
    } else {
      setConnection("reconnecting");
    }
  } catch {
    setConnection("reconnecting");
  }
  scheduleReconnect(delay);
}

function connect() {
  if (source) {
    source.close();
  }
  source = new EventSource(`${queueUrl}/events`);
  source.addEventListener("open", () => {
    retryMs = RETRY_MIN_MS;
    setConnection("live");
  });
  source.addEventListener("status", (event) => {
    try {
      apply(JSON.parse(event.data));
    } catch {
      // a message that is not JSON: wait for the next one
    }
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      onRefused();
    } else {
      setConnection("reconnecting"); // the browser is reconnecting on its own
    }
  });
}

function main() {
  initLanguage();
  onLanguageChange(render);
  window.addEventListener("resize", () => fitWidth($("now-label")));
  render();
  setInterval(renderClock, 10000);
  loadFacilityName();
  connect();
}

main();
