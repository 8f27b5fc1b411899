// The queue board for a waiting-room screen: /board/{facility_id}/{department}.
// Live over server-sent events (GET /facilities/{id}/queues/{department}/events): the first event
// is the queue's current status, then one `status` event per change. The browser reconnects
// by itself after a dropped connection; when the server refuses the stream (restarting,
// unknown queue) this page reconnects with a growing delay.

import { fitToWidth } from "./fit.js";
import { initLanguage, locale, onLanguageChange, roomNamed, t } from "./i18n.js";

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

/** "Phòng P.101" / "Room P.101"; a room whose name already says so is shown as it is. */
function roomText(room) {
  return roomNamed(room) ? room : t("board.room", { room });
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
  // a long name shows two lines on the board; all of it is in the title and the tooltip
  $("facility-name").title = facilityName;
  $("department-name").title = status?.department_name || department;
  const parts = [status?.department_name || department, facilityName, t("board.title")];
  document.title = parts.filter(Boolean).join(" — ");
}

/** A called number fits its panel (see fitToWidth); words ("none yet") wrap instead. */
function fitWidth(element) {
  if (element.classList.contains("none")) {
    element.style.fontSize = "";
    element.classList.remove("wrap");
    return;
  }
  fitToWidth(element);
}

/** Show the recent calls that fit the list's height; when not even the latest fits (a huge
 * number above on a small screen), the whole section gives way rather than show half a call. */
function fitRecent() {
  const section = $("recent-list").closest("section");
  const list = $("recent-list");
  const items = [...list.children];
  section.hidden = false;
  for (const item of items) {
    item.hidden = false;
  }
  for (let index = items.length - 1; index >= 0 && list.scrollHeight > list.clientHeight; index--) {
    items[index].hidden = true;
  }
  section.hidden = items.length > 0 && items.every((item) => item.hidden);
}

function fit() {
  fitWidth($("now-label"));
  fitRecent();
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
  $("now-room").textContent = now?.room ? roomText(now.room) : "";

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
        room.textContent = roomText(call.room);
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

  const waiting = Number(status.waiting) || 0;
  $("waiting").textContent = t(waiting === 1 ? "board.people.one" : "board.people", { n: waiting });
  const average = status.average_service_minutes;
  $("average").textContent =
    average === null || average === undefined
      ? t("board.average.none")
      : t("board.average.value", { n: Math.max(1, Math.round(Number(average))) });
  $("updated").textContent = t("board.updated", { time: time(status.updated_at) });
  fit();
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
  let announcement = "board.announce";
  if (now.room) {
    announcement = roomNamed(now.room) ? "board.announce.place" : "board.announce.room";
  }
  region.textContent = t(announcement, { label: now.label, room: now.room });
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
      fit(); // the heading's height changed the room the calls have
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
  window.addEventListener("resize", fit);
  render();
  setInterval(renderClock, 10000);
  loadFacilityName();
  connect();
}

main();
