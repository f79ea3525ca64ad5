// common.js: shared by the chat page and the dashboard: the interface language and its
// strings, the saved API key, and small helpers around fetch for dari's HTTP API.

const LANG_KEY = "dari.lang";
const API_KEY_KEY = "dari.apiKey";
const LANGUAGES = [["en", "English"], ["ko", "한국어"]];

const strings = { en: {}, ko: {} };
const listeners = [];

addStrings({
  en: { language: "Language" },
  ko: { language: "언어" },
});

function readStorage(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function writeStorage(key, value) {
  try {
    if (value === "" || value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Storage can be unavailable (private mode, disabled); the page keeps working.
  }
}

function browserLang() {
  const list = navigator.languages && navigator.languages.length
    ? navigator.languages : [navigator.language || "en"];
  for (const code of list) {
    const base = String(code).toLowerCase().split("-")[0];
    if (base === "ko") return "ko";
    if (base === "en") return "en";
  }
  return "en";
}

/**
 * A new element with an optional class and text. The text is set as textContent, never parsed
 * as markup, so it may come from the model or the server.
 */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The interface language: "en" or "ko". */
export function lang() {
  const saved = readStorage(LANG_KEY);
  if (saved === "en" || saved === "ko") return saved;
  return browserLang();
}

/** Adds a page's strings: {en: {key: text}, ko: {key: text}}. */
export function addStrings(table) {
  for (const code of Object.keys(table)) {
    strings[code] = Object.assign(strings[code] || {}, table[code]);
  }
}

/** The string for `key` in the current language, "{name}" placeholders filled from vars. */
export function t(key, vars) {
  const current = strings[lang()] || {};
  let text = current[key];
  if (text === undefined) text = strings.en[key];
  if (text === undefined) text = key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole);
}

function translateAll(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("title", t(el.dataset.i18nTitle));
  }
}

/**
 * Saves the language, updates <html lang>, re-renders translated elements, tells listeners.
 * A page applying the current language at start passes save = false, so a language taken from
 * the browser is not stored as a choice.
 */
export function setLang(code, save = true) {
  const next = code === "ko" ? "ko" : "en";
  if (save) writeStorage(LANG_KEY, next);
  document.documentElement.lang = next;
  translateAll(document);
  for (const fn of listeners) {
    try {
      fn(next);
    } catch (err) {
      console.warn("language listener failed", err);
    }
  }
}

/** Calls fn(code) after every language change. */
export function onLangChange(fn) {
  listeners.push(fn);
}

/** Fills a <select> with the languages and wires it to setLang. */
export function mountLangSwitch(select) {
  select.replaceChildren();
  for (const [code, name] of LANGUAGES) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = name;
    option.lang = code;
    select.append(option);
  }
  select.value = lang();
  select.dataset.i18nLabel = "language";
  select.setAttribute("aria-label", t("language"));
  select.addEventListener("change", () => setLang(select.value));
  onLangChange((code) => {
    if (select.value !== code) select.value = code;
  });
}

/** The saved API key, "" when none. */
export function apiKey() {
  return readStorage(API_KEY_KEY) || "";
}

/** Saves the API key ("" removes it). */
export function setApiKey(key) {
  writeStorage(API_KEY_KEY, (key || "").trim());
}

/**
 * fetch on the page's own origin: JSON bodies, and the bearer key only when one is saved. A path
 * that resolves to another origin (an absolute or "//host" URL) is refused, so the key can never
 * leave for another site.
 */
export async function api(path, { method, body, signal, headers } = {}) {
  const url = new URL(path, window.location.origin);
  if (url.origin !== window.location.origin) throw new Error(`not this server: ${url.origin}`);
  const sent = new Headers(headers || {});
  let payload;
  if (body !== undefined && body !== null) {
    // A string is sent as it is (already JSON); anything else is JSON-encoded.
    payload = typeof body === "string" ? body : JSON.stringify(body);
    if (!sent.has("Content-Type")) sent.set("Content-Type", "application/json");
  }
  const key = apiKey();
  if (key && !sent.has("Authorization")) sent.set("Authorization", `Bearer ${key}`);
  return fetch(url, {
    method: method || (payload !== undefined ? "POST" : "GET"),
    body: payload,
    signal,
    headers: sent,
    credentials: "same-origin",
  });
}

function errorKind(status, code, type, message) {
  if (status === 401 || status === 403) return "auth";
  if (status === 429) return "quota";
  if (status === 503) {
    const namesPause = /paus/i.test(message || "");
    if (code === "service_paused" || (type === "service_unavailable" && namesPause)) {
      return "paused";
    }
    return "unavailable";
  }
  return "error";
}

/** Reads an OpenAI-shaped error body: {status, message, code, type, kind}. */
export async function apiError(response) {
  const status = response.status;
  let message = "";
  let code = "";
  let type = "";
  let text = "";
  try {
    text = await response.text();
  } catch {
    text = "";
  }
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.error === "string") {
      message = parsed.error;
    } else {
      const err = parsed && typeof parsed.error === "object" && parsed.error ? parsed.error : parsed;
      if (err && typeof err === "object") {
        message = typeof err.message === "string" ? err.message : "";
        code = err.code == null ? "" : String(err.code);
        type = err.type == null ? "" : String(err.type);
      }
    }
  } catch {
    message = text.trim().slice(0, 500);
  }
  if (!message) message = `HTTP ${status} ${response.statusText || ""}`.trim();
  return { status, message, code, type, kind: errorKind(status, code, type, message) };
}
