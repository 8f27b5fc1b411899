// Language for the kiosk and board pages: Vietnamese by default, English on request.
// The choice comes from `?lang=en|vi` (and is then remembered), else from localStorage.
// Elements carry data-i18n="key" (text) and data-i18n-attr="attribute:key;..." (attributes);
// the Vietnamese text is also written in the HTML, so the page reads right before this runs.

import { STRINGS } from "./strings.js";

const STORAGE_KEY = "healthbook.lang";
const LANGUAGES = ["vi", "en"];
const listeners = [];
let current = "vi";

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the language still switches for this visit
  }
}

function remember(lang) {
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // storage disabled
  }
}

export function currentLanguage() {
  return current;
}

export function locale() {
  return current === "vi" ? "vi-VN" : "en-GB";
}

/** The string for `key` in the current language, with {name} placeholders filled in. */
export function t(key, values = {}) {
  const table = STRINGS[current] || STRINGS.vi;
  let text = table[key];
  if (text === undefined) {
    text = STRINGS.vi[key];
  }
  if (text === undefined) {
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) =>
    Object.hasOwn(values, name) ? String(values[name]) : match,
  );
}

/** Whether a room's own name already says "Phòng …" / "Room …" (then no second prefix). */
export function roomNamed(room) {
  return /^(phòng|room)(\s|$)/iu.test(room.trim());
}

export function has(key) {
  return Object.hasOwn(STRINGS.vi, key);
}

/** Fill every data-i18n element and attribute under `root`. */
export function applyTranslations(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of element.dataset.i18nAttr.split(";")) {
      const [attribute, key] = pair.split(":").map((part) => part.trim());
      if (attribute && key) {
        element.setAttribute(attribute, t(key));
      }
    }
  }
  document.documentElement.lang = current;
}

export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) {
    return;
  }
  current = lang;
  remember(lang);
  applyTranslations();
  for (const listener of listeners) {
    listener(lang);
  }
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

/** Choose the language, translate the page, and wire the switch button (#lang-switch). */
export function initLanguage() {
  const requested = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(requested)) {
    current = requested;
    remember(requested);
  } else if (LANGUAGES.includes(stored())) {
    current = stored();
  }
  applyTranslations();
  const button = document.getElementById("lang-switch");
  if (button) {
    const label = () => {
      const other = current === "vi" ? "en" : "vi";
      button.textContent = t(`lang.switch.${other}`);
      button.lang = other;
    };
    label();
    onLanguageChange(label);
    button.addEventListener("click", () => setLanguage(current === "vi" ? "en" : "vi"));
  }
  return current;
}
