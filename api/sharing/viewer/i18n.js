// Language of the viewer: the reader's choice (remembered in this browser), else the browser's
// language (Vietnamese for vi-*, English otherwise). Elements carry data-i18n="key" (text) and
// data-i18n-attr="attribute:key;..." (attributes).

import { STRINGS } from "./strings.js";

const STORAGE_KEY = "healthbook.viewer.lang";
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

/** The browser's preferred language among ours. */
export function browserLanguage(languages = navigator.languages || [navigator.language]) {
  for (const tag of languages) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) {
      return base;
    }
  }
  return "en";
}

export function currentLanguage() {
  return current;
}

export function locale() {
  return current === "vi" ? "vi-VN" : "en-GB";
}

/** The string for `key` in the current language, with {name} placeholders filled in. */
export function t(key, values = {}) {
  const table = STRINGS[current] || STRINGS.en;
  let text = table[key];
  if (text === undefined) {
    text = STRINGS.en[key];
  }
  if (text === undefined) {
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) =>
    Object.hasOwn(values, name) ? String(values[name]) : match,
  );
}

export function has(key) {
  return Object.hasOwn(STRINGS.en, key);
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
  const saved = stored();
  current = LANGUAGES.includes(saved) ? saved : browserLanguage();
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
