// chat.js: the chat page. Conversations kept in localStorage, streaming replies from
// /v1/chat/completions (server-sent events), Markdown rendering, provenance verification,
// ratings and feedback, the API key panel and the error notice.

import {
  addStrings, t, lang, setLang, onLangChange, mountLangSwitch, api, apiError, apiKey, setApiKey, el,
} from "./common.js";
import { renderMarkdown } from "./markdown.js";
import { verifyProvenance } from "./provenance.js";

const STORE_KEY = "dari.chat.v1";
const SETTINGS_KEY = "dari.chat.settings.v1";
const TITLE_LENGTH = 40;
const DEFAULTS = { system: "", temperature: 0.8, top_p: 0.95, max_tokens: 512 };

addStrings({
  en: {
    skip_to_prompt: "Skip to the message box",
    model: "Model",
    model_unknown: "model unavailable",
    dashboard: "Dashboard",
    new_chat: "New chat",
    conversations: "Conversations",
    no_conversations: "No conversations yet.",
    delete_conversation: "Delete conversation “{title}”",
    conversation_deleted: "Conversation deleted",
    settings: "Settings",
    system_prompt: "System prompt",
    temperature: "Temperature",
    top_p: "Top-p",
    max_tokens: "Max tokens",
    key_heading: "API key",
    key_needed: "This server needs an API key. Enter it below; it is kept in this browser only.",
    key_rejected: "The saved API key was not accepted. Enter another one.",
    api_key: "API key",
    save_key: "Save key",
    forget_key: "Forget key",
    key_saved: "API key saved",
    key_forgotten: "API key removed from this browser",
    messages: "Messages",
    message: "Message",
    prompt_placeholder: "Write a message…",
    prompt_hint: "Enter sends, Shift+Enter adds a new line, Escape stops a reply.",
    send: "Send",
    stop: "Stop",
    empty_chat: "Ask something to start a conversation.",
    you: "You",
    assistant: "dari",
    ai_generated: "AI-generated",
    generating: "Generating…",
    tokens: "{n} tokens",
    tokens_per_s: "{n} tokens/s",
    finish_length: "stopped at the token limit",
    finish_cancelled: "stopped",
    finish_error: "ended with an error",
    verify: "Verify",
    verifying: "Verifying…",
    verify_pass: "Signature valid — signed by {operator}, key {key_id}",
    verify_fail: "Verification failed: {reason}",
    reason_no_provenance: "this reply has no provenance",
    reason_no_crypto: "this browser cannot verify here (crypto.subtle needs HTTPS or localhost)",
    reason_no_server_key: "the server's public key is not available",
    reason_malformed: "the provenance record is malformed",
    reason_hash_mismatch: "the text does not match the signed hash",
    reason_key_mismatch: "signed by a different key than this server's",
    reason_unsupported: "this browser does not support Ed25519 signatures",
    reason_bad_signature: "bad signature",
    details: "Details",
    details_label: "Provenance details",
    no_provenance: "No provenance was attached to this reply.",
    rate_up: "Good response",
    rate_down: "Bad response",
    regenerate: "Regenerate",
    edit: "Edit",
    edit_label: "Edit message",
    save: "Save",
    cancel: "Cancel",
    comment: "Comment (optional)",
    send_feedback: "Send feedback",
    feedback_sending: "Sending…",
    feedback_thanks: "Thanks — feedback recorded",
    feedback_failed: "Feedback not sent: {message}",
    copy: "Copy",
    copy_code: "Copy code",
    copied: "Copied",
    copy_failed: "Copy failed",
    code: "code",
    notice_paused: "The service is paused by the operator: {reason}",
    notice_paused_plain: "The service is paused by the operator.",
    notice_quota: "Usage limit reached: {message}",
    notice_auth: "This server needs an API key: enter it in the API key box.",
    notice_auth_rejected: "The API key was not accepted ({message}). Enter another one.",
    notice_network: "Cannot reach the server: {message}",
    notice_stream: "The reply ended with an error: {message}",
    reply_done: "Reply complete",
    reply_stopped: "Reply stopped",
  },
  ko: {
    skip_to_prompt: "메시지 입력란으로 건너뛰기",
    model: "모델",
    model_unknown: "모델 정보 없음",
    dashboard: "대시보드",
    new_chat: "새 대화",
    conversations: "대화 목록",
    no_conversations: "아직 대화가 없습니다.",
    delete_conversation: "“{title}” 대화 삭제",
    conversation_deleted: "대화를 삭제했습니다",
    settings: "설정",
    system_prompt: "시스템 프롬프트",
    temperature: "온도",
    top_p: "Top-p",
    max_tokens: "최대 토큰 수",
    key_heading: "API 키",
    key_needed: "이 서버는 API 키가 필요합니다. 아래에 입력하세요. 키는 이 브라우저에만 저장됩니다.",
    key_rejected: "저장된 API 키가 거부되었습니다. 다른 키를 입력하세요.",
    api_key: "API 키",
    save_key: "키 저장",
    forget_key: "키 삭제",
    key_saved: "API 키를 저장했습니다",
    key_forgotten: "이 브라우저에서 API 키를 삭제했습니다",
    messages: "메시지",
    message: "메시지",
    prompt_placeholder: "메시지를 입력하세요…",
    prompt_hint: "Enter로 보내고, Shift+Enter로 줄을 바꾸고, Esc로 답변을 중지합니다.",
    send: "보내기",
    stop: "중지",
    empty_chat: "무엇이든 물어보며 대화를 시작하세요.",
    you: "나",
    assistant: "dari",
    ai_generated: "AI 생성",
    generating: "생성 중…",
    tokens: "토큰 {n}개",
    tokens_per_s: "초당 {n} 토큰",
    finish_length: "토큰 한도에 도달해 멈춤",
    finish_cancelled: "중지됨",
    finish_error: "오류로 중단됨",
    verify: "서명 확인",
    verifying: "확인 중…",
    verify_pass: "서명이 유효합니다 — 서명: {operator}, 키 {key_id}",
    verify_fail: "검증 실패: {reason}",
    reason_no_provenance: "이 답변에는 출처 정보가 없습니다",
    reason_no_crypto: "이 브라우저에서는 확인할 수 없습니다 (crypto.subtle은 HTTPS나 localhost에서만 쓸 수 있습니다)",
    reason_no_server_key: "서버의 공개 키를 가져올 수 없습니다",
    reason_malformed: "출처 정보 형식이 잘못되었습니다",
    reason_hash_mismatch: "텍스트가 서명된 해시와 일치하지 않습니다",
    reason_key_mismatch: "이 서버가 아닌 다른 키로 서명되었습니다",
    reason_unsupported: "이 브라우저는 Ed25519 서명을 지원하지 않습니다",
    reason_bad_signature: "서명이 올바르지 않습니다",
    details: "상세 정보",
    details_label: "출처 상세 정보",
    no_provenance: "이 답변에는 출처 정보가 없습니다.",
    rate_up: "좋은 답변",
    rate_down: "나쁜 답변",
    regenerate: "다시 생성",
    edit: "수정",
    edit_label: "메시지 수정",
    save: "저장",
    cancel: "취소",
    comment: "의견 (선택)",
    send_feedback: "피드백 보내기",
    feedback_sending: "보내는 중…",
    feedback_thanks: "감사합니다 — 피드백이 기록되었습니다",
    feedback_failed: "피드백을 보내지 못했습니다: {message}",
    copy: "복사",
    copy_code: "코드 복사",
    copied: "복사됨",
    copy_failed: "복사하지 못했습니다",
    code: "코드",
    notice_paused: "운영자가 서비스를 일시 중지했습니다: {reason}",
    notice_paused_plain: "운영자가 서비스를 일시 중지했습니다.",
    notice_quota: "사용 한도에 도달했습니다: {message}",
    notice_auth: "이 서버는 API 키가 필요합니다. API 키 입력란에 키를 입력하세요.",
    notice_auth_rejected: "API 키가 거부되었습니다 ({message}). 다른 키를 입력하세요.",
    notice_network: "서버에 연결할 수 없습니다: {message}",
    notice_stream: "답변 중 오류가 발생했습니다: {message}",
    reply_done: "답변 완료",
    reply_stopped: "답변을 중지했습니다",
  },
});

// ---- page state -----------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

let store = { conversations: [], current: null };
let modelName = "";
let modelLoaded = false;
let serverInfo;          // undefined: not known yet; null: no trust layer (404); else the object
let active = null;       // the reply being streamed: {conv, msg, controller, article, ...}
let pendingRetry = null; // what to run again once an API key is saved
let lastNotice = null;   // {kind, key, vars} so the notice can be re-translated
const verifyResults = new WeakMap();
const openDetails = new WeakSet();
let nextId = 0;
let followEnd = true;

function button(className, label, { ariaLabel, pressed } = {}) {
  const node = el("button", className, label);
  node.type = "button";
  if (ariaLabel) node.setAttribute("aria-label", ariaLabel);
  if (pressed !== undefined) node.setAttribute("aria-pressed", String(pressed));
  return node;
}

function uniqueId(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

function announce(text) {
  const status = $("chat-status");
  status.textContent = "";
  requestAnimationFrame(() => { status.textContent = text; });
}

// ---- storage --------------------------------------------------------------------------------

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

function cleanMessage(m) {
  if (!m || (m.role !== "user" && m.role !== "assistant") || typeof m.content !== "string") {
    return null;
  }
  return m;
}

function loadStore() {
  let parsed = null;
  try {
    parsed = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
  } catch {
    parsed = null;
  }
  const list = parsed && Array.isArray(parsed.conversations) ? parsed.conversations : [];
  const conversations = list
    .filter((c) => c && typeof c.id === "string" && Array.isArray(c.messages))
    .map((c) => ({ ...c, messages: c.messages.map(cleanMessage).filter(Boolean) }));
  const current = conversations.some((c) => c.id === parsed?.current) ? parsed.current : null;
  store = { conversations, current: current ?? conversations[0]?.id ?? null };
}

// Writes the conversations. The reply being streamed is left out: it is written once, when it
// completes or is stopped (finishRun), not in whatever state another save finds it.
function saveStore() {
  const streaming = active ? active.msg : null;
  const withoutStreaming = (c) => (c.messages.includes(streaming)
    ? { ...c, messages: c.messages.filter((m) => m !== streaming) } : c);
  const saved = { ...store, conversations: store.conversations.map(withoutStreaming) };
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(saved));
  } catch (err) {
    console.warn("could not save the conversations", err);
  }
}

function currentConversation() {
  return store.conversations.find((c) => c.id === store.current) || null;
}

function titleFrom(text) {
  return Array.from(text.replace(/\s+/g, " ").trim()).slice(0, TITLE_LENGTH).join("");
}

function updateTitle(conv) {
  const first = conv.messages.find((m) => m.role === "user");
  conv.title = first ? titleFrom(first.content) : "";
}

function createConversation() {
  store.conversations = store.conversations.filter((c) => c.messages.length > 0);
  const conv = { id: newId(), title: "", created: Date.now(), messages: [] };
  store.conversations.unshift(conv);
  store.current = conv.id;
  return conv;
}

// ---- settings -------------------------------------------------------------------------------

function loadSettings() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
  } catch {
    saved = {};
  }
  const s = { ...DEFAULTS, ...saved };
  $("system-prompt").value = typeof s.system === "string" ? s.system : "";
  $("temperature").value = String(s.temperature);
  $("top-p").value = String(s.top_p);
  $("max-tokens").value = String(s.max_tokens);
}

function numberFrom(input, fallback, min, max, integer) {
  const value = Number(input.value);
  if (input.value.trim() === "" || !Number.isFinite(value) || value < min || value > max) {
    return fallback;
  }
  return integer ? Math.round(value) : value;
}

function settings() {
  return {
    system: $("system-prompt").value,
    temperature: numberFrom($("temperature"), DEFAULTS.temperature, 0, 2, false),
    top_p: numberFrom($("top-p"), DEFAULTS.top_p, 0, 1, false),
    max_tokens: numberFrom($("max-tokens"), DEFAULTS.max_tokens, 1, 1e9, true),
  };
}

function saveSettings() {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings()));
  } catch (err) {
    console.warn("could not save the settings", err);
  }
}

// ---- notice and key panel -------------------------------------------------------------------

function pauseReason(message) {
  const match = /paused by the operator:\s*([\s\S]*)$/i.exec(message || "");
  return (match ? match[1] : message || "").trim();
}

function noticeFor(error) {
  switch (error.kind) {
    case "paused": {
      const reason = pauseReason(error.message);
      return reason ? { key: "notice_paused", vars: { reason } } : { key: "notice_paused_plain" };
    }
    case "quota":
      return { key: "notice_quota", vars: { message: error.message } };
    case "auth":
      return apiKey()
        ? { key: "notice_auth_rejected", vars: { message: error.message } }
        : { key: "notice_auth" };
    case "network":
      return { key: "notice_network", vars: { message: error.message } };
    case "stream":
      return { key: "notice_stream", vars: { message: error.message } };
    default:
      return { text: error.message };
  }
}

function renderNotice() {
  const notice = $("notice");
  if (!lastNotice) {
    notice.textContent = "";
    notice.hidden = true;
    delete notice.dataset.kind;
    return;
  }
  notice.dataset.kind = lastNotice.kind;
  notice.textContent = lastNotice.text ?? t(lastNotice.key, lastNotice.vars);
  notice.hidden = false;
}

function showError(error, retry) {
  lastNotice = { kind: error.kind, ...noticeFor(error) };
  renderNotice();
  if (error.kind === "auth") showKeyPanel(retry);
}

function clearNotice() {
  lastNotice = null;
  renderNotice();
}

function showKeyPanel(retry) {
  pendingRetry = retry || null;
  const message = $("key-message");
  message.dataset.i18n = apiKey() ? "key_rejected" : "key_needed";
  message.textContent = t(message.dataset.i18n);
  $("key-panel").hidden = false;
  $("api-key").focus();
}

function onSaveKey(event) {
  event.preventDefault();
  const input = $("api-key");
  setApiKey(input.value);
  input.value = "";
  $("key-panel").hidden = true;
  clearNotice();
  announce(t("key_saved"));
  const retry = pendingRetry;
  pendingRetry = null;
  if (retry) retry();
  else $("prompt").focus();
}

function onForgetKey() {
  setApiKey("");
  $("api-key").value = "";
  announce(t("key_forgotten"));
}

// ---- server information ---------------------------------------------------------------------

async function loadModel() {
  const target = $("model-name");
  modelLoaded = false;
  try {
    const response = await api("/v1/models");
    if (!response.ok) {
      const error = await apiError(response);
      if (error.kind === "auth") showError(error, loadModel);
      target.textContent = t("model_unknown");
      return;
    }
    const body = await response.json();
    modelName = body?.data?.[0]?.id || "";
    target.textContent = modelName || t("model_unknown");
  } catch {
    target.textContent = t("model_unknown");
  } finally {
    modelLoaded = true;
  }
}

async function loadServerInfo() {
  try {
    const response = await fetch(new URL("/v1/provenance", location.origin));
    if (response.status === 404) serverInfo = null;
    else if (response.ok) serverInfo = await response.json();
  } catch {
    serverInfo = undefined;
  }
  updateAiLabels();
  return serverInfo;
}

function aiLabelText() {
  const label = serverInfo && serverInfo.label;
  if (label && typeof label === "object") {
    const text = label[lang()] || label.en;
    if (typeof text === "string" && text) return text;
  } else if (typeof label === "string" && label) {
    return label;
  }
  return t("ai_generated");
}

function updateAiLabels() {
  for (const node of document.querySelectorAll("#messages .ai-label")) {
    node.textContent = aiLabelText();
  }
}

// ---- conversation list ----------------------------------------------------------------------

function conversationItem(conv) {
  const item = el("li", "conversation-item");
  const title = conv.title || t("new_chat");
  const open = button("conversation", title);
  open.dataset.id = conv.id;
  open.title = title;
  if (conv.id === store.current) open.setAttribute("aria-current", "true");
  open.addEventListener("click", () => selectConversation(conv.id));
  const remove = button("delete-conversation", "×", {
    ariaLabel: t("delete_conversation", { title }),
  });
  remove.dataset.id = conv.id;
  remove.addEventListener("click", () => deleteConversation(conv.id));
  item.append(open, remove);
  return item;
}

function renderConversations() {
  const nav = $("conversations");
  if (store.conversations.length === 0) {
    nav.replaceChildren(el("p", "sidebar-empty", t("no_conversations")));
    return;
  }
  const list = el("ul", "conversation-list");
  const sorted = [...store.conversations].sort((a, b) => (b.created || 0) - (a.created || 0));
  for (const conv of sorted) list.append(conversationItem(conv));
  nav.replaceChildren(list);
}

function selectConversation(id) {
  store.current = id;
  saveStore();
  renderAll();
  $("prompt").focus();
}

function deleteConversation(id) {
  if (active && active.conv.id === id) stopStreaming();
  store.conversations = store.conversations.filter((c) => c.id !== id);
  if (store.current === id) store.current = store.conversations[0]?.id ?? null;
  saveStore();
  renderAll();
  announce(t("conversation_deleted"));
  const next = document.querySelector("#conversations button.conversation");
  (next || $("new-chat")).focus();
}

function onNewChat() {
  const conv = currentConversation();
  if (!conv || conv.messages.length > 0) createConversation();
  saveStore();
  renderAll();
  $("prompt").focus();
}

// ---- messages -------------------------------------------------------------------------------

function markdownLabels() {
  return { copy: t("copy"), copyLabel: t("copy_code"), codeLabel: t("code") };
}

function renderBody(body, msg) {
  body.replaceChildren(renderMarkdown(msg.content, markdownLabels()));
}

function metaText(msg, streaming) {
  const parts = [msg.model || modelName].filter(Boolean);
  if (streaming) return [...parts, t("generating")].join(" · ");
  if (Number.isFinite(msg.completion_tokens)) {
    parts.push(t("tokens", { n: msg.completion_tokens }));
  }
  if (Number.isFinite(msg.tokens_per_s)) {
    parts.push(t("tokens_per_s", { n: msg.tokens_per_s.toFixed(1) }));
  }
  const finish = msg.finish_reason;
  if (finish === "length" || finish === "cancelled" || finish === "error") {
    parts.push(t(`finish_${finish}`));
  }
  return parts.join(" · ");
}

function userArticle(msg, index) {
  const article = el("article", "msg");
  article.dataset.role = "user";
  article.dataset.index = String(index);
  const head = el("div", "msg-head");
  head.append(el("span", "msg-author", t("you")));
  const body = el("div", "msg-body", msg.content);
  const actions = el("div", "msg-actions");
  const edit = button("edit", t("edit"));
  edit.disabled = Boolean(active);
  edit.addEventListener("click", () => startEdit(article, msg, index));
  actions.append(edit);
  article.append(head, body, actions);
  return article;
}

// A thumb drawn as an SVG path, so the icon does not depend on an emoji font.
function thumbIcon(down) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("icon");
  if (down) svg.classList.add("icon-flip");
  const shape = document.createElementNS(ns, "path");
  shape.setAttribute("fill", "currentColor");
  shape.setAttribute("d", "M2 10h4v11H2z M8 21V10l4-7c1.5 0 2.5 1 2 3l-1 3h6.5c1.5 0 2.5 " +
    "1.3 2.1 2.7l-2 7.5c-.3 1.1-1.2 1.8-2.3 1.8z");
  svg.append(shape);
  return svg;
}

function ratingButtons(msg, article, disabled) {
  const up = button("rate-up", undefined, { ariaLabel: t("rate_up"), pressed: msg.rating === 1 });
  const down = button("rate-down", undefined, {
    ariaLabel: t("rate_down"), pressed: msg.rating === -1,
  });
  up.append(thumbIcon(false));
  down.append(thumbIcon(true));
  up.title = t("rate_up");
  down.title = t("rate_down");
  up.disabled = down.disabled = disabled;
  up.addEventListener("click", () => rate(article, msg, 1));
  down.addEventListener("click", () => rate(article, msg, -1));
  return [up, down];
}

function detailsParts(msg) {
  const pre = el("pre", "provenance-details");
  pre.id = uniqueId("provenance");
  pre.setAttribute("aria-label", t("details_label"));
  pre.textContent = msg.provenance ? JSON.stringify(msg.provenance, null, 2) : t("no_provenance");
  pre.hidden = !openDetails.has(msg);
  pre.tabIndex = 0;
  const toggle = button("details", t("details"));
  toggle.setAttribute("aria-expanded", String(openDetails.has(msg)));
  toggle.setAttribute("aria-controls", pre.id);
  toggle.addEventListener("click", () => {
    const open = pre.hidden;
    pre.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) openDetails.add(msg);
    else openDetails.delete(msg);
  });
  return { toggle, pre };
}

function verifyParts(msg) {
  const result = el("p", "verify-result");
  result.setAttribute("aria-live", "polite");
  showVerifyResult(result, verifyResults.get(msg));
  const verify = button("verify", t("verify"));
  verify.addEventListener("click", () => runVerify(msg, result, verify));
  return { verify, result };
}

function assistantActions(msg, article, isLast, streaming) {
  const actions = el("div", "msg-actions");
  const { verify, result } = verifyParts(msg);
  const { toggle, pre } = detailsParts(msg);
  const noRequest = streaming || !msg.request_id;
  verify.disabled = streaming;
  toggle.disabled = streaming;
  actions.append(verify, toggle, ...ratingButtons(msg, article, noRequest));
  if (isLast && !streaming) {
    const again = button("regenerate", t("regenerate"));
    again.disabled = Boolean(active);
    again.addEventListener("click", () => regenerate(msg));
    actions.append(again);
  }
  return { actions, extras: [result, pre] };
}

function assistantArticle(msg, isLast) {
  const streaming = Boolean(active && active.msg === msg);
  const article = el("article", "msg");
  article.dataset.role = "assistant";
  article.dataset.streaming = String(streaming);
  if (!streaming) article.dataset.finish = msg.finish_reason || "stop";
  const head = el("div", "msg-head");
  head.append(el("span", "msg-author", t("assistant")), el("span", "ai-label", aiLabelText()));
  const body = el("div", "msg-body");
  renderBody(body, msg);
  const meta = el("p", "msg-meta", metaText(msg, streaming));
  const { actions, extras } = assistantActions(msg, article, isLast, streaming);
  article.append(head, body, meta, actions, ...extras);
  if (streaming) active.article = article;
  return article;
}

function lastAssistantIndex(messages) {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "assistant") return i;
  }
  return -1;
}

function renderMessages() {
  const container = $("messages");
  const conv = currentConversation();
  if (!conv || conv.messages.length === 0) {
    container.replaceChildren(el("p", "empty-state", t("empty_chat")));
    return;
  }
  const last = lastAssistantIndex(conv.messages);
  const articles = conv.messages.map((msg, i) =>
    msg.role === "user" ? userArticle(msg, i) : assistantArticle(msg, i === last));
  container.replaceChildren(...articles);
}

function renderAll() {
  renderConversations();
  renderMessages();
  updateStreamingUi();
}

// Follows the end of the conversation while a reply streams, unless the reader scrolls up.
function scrollToEnd(force) {
  const box = $("messages");
  if (force) followEnd = true;
  if (followEnd) box.scrollTop = box.scrollHeight;
}

function onMessagesScroll() {
  const box = $("messages");
  followEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
}

// ---- editing user messages ------------------------------------------------------------------

function startEdit(article, msg, index) {
  if (active || article.querySelector(".edit-form")) return;
  const form = el("form", "edit-form");
  const area = el("textarea", "edit-text");
  area.value = msg.content;
  area.rows = Math.min(12, Math.max(2, msg.content.split("\n").length));
  area.setAttribute("aria-label", t("edit_label"));
  const save = el("button", "button primary save-edit", t("save"));
  save.type = "submit";
  const cancel = button("button cancel-edit", t("cancel"));
  const buttons = el("div", "edit-buttons");
  buttons.append(save, cancel);
  form.append(area, buttons);
  article.querySelector(".msg-body").replaceWith(form);
  article.querySelector(".msg-actions").hidden = true;
  cancel.addEventListener("click", () => renderMessages());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveEdit(msg, index, area.value);
  });
  area.addEventListener("keydown", (event) => onEditKey(event, form));
  area.focus();
}

function onEditKey(event, form) {
  if (event.key === "Escape") {
    event.preventDefault();
    event.stopPropagation();
    renderMessages();
    $("prompt").focus();
  } else if (isSendKey(event)) {
    event.preventDefault();
    form.requestSubmit();
  }
}

function saveEdit(msg, index, text) {
  const conv = currentConversation();
  if (!conv || active || !text.trim()) return;
  msg.content = text;
  conv.messages.splice(index + 1);
  updateTitle(conv);
  saveStore();
  renderAll();
  generate(conv);
}

// ---- rating and feedback --------------------------------------------------------------------

function rate(article, msg, value) {
  msg.rating = value;
  saveStore();
  article.querySelector(".rate-up").setAttribute("aria-pressed", String(value === 1));
  article.querySelector(".rate-down").setAttribute("aria-pressed", String(value === -1));
  openFeedbackForm(article, msg);
}

function openFeedbackForm(article, msg) {
  let form = article.querySelector(".feedback-form");
  if (!form) {
    form = buildFeedbackForm(msg);
    article.append(form);
  }
  form.hidden = false;
  form.querySelector("textarea").focus();
}

function buildFeedbackForm(msg) {
  const form = el("form", "feedback-form");
  const id = uniqueId("feedback");
  const label = el("label", "", t("comment"));
  label.htmlFor = id;
  const area = el("textarea");
  area.id = id;
  area.rows = 2;
  const submit = el("button", "button send-feedback", t("send_feedback"));
  submit.type = "submit";
  const status = el("p", "feedback-status");
  status.setAttribute("role", "status");
  form.append(label, area, submit, status);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendFeedback(msg, area.value, submit, status);
  });
  return form;
}

async function sendFeedback(msg, text, submit, status) {
  submit.disabled = true;
  status.dataset.state = "sending";
  status.textContent = t("feedback_sending");
  const body = { request_id: msg.request_id, rating: msg.rating === -1 ? -1 : 1, text };
  try {
    const response = await api("/v1/feedback", { method: "POST", body });
    if (!response.ok) {
      const error = await apiError(response);
      if (error.kind === "auth") showKeyPanel(null);
      throw new Error(error.message);
    }
    status.dataset.state = "ok";
    status.textContent = t("feedback_thanks");
  } catch (err) {
    status.dataset.state = "error";
    status.textContent = t("feedback_failed", { message: err.message || String(err) });
  } finally {
    submit.disabled = false;
  }
}

// ---- verification ---------------------------------------------------------------------------

function showVerifyResult(node, outcome) {
  if (!outcome) {
    node.hidden = true;
    node.textContent = "";
    delete node.dataset.state;
    return;
  }
  node.hidden = false;
  node.dataset.state = outcome.state;
  if (outcome.state === "pending") node.textContent = t("verifying");
  else if (outcome.state === "pass") node.textContent = t("verify_pass", outcome.vars);
  else node.textContent = t("verify_fail", { reason: t(`reason_${outcome.code}`) });
}

async function runVerify(msg, node, trigger) {
  trigger.disabled = true;
  showVerifyResult(node, { state: "pending" });
  let outcome;
  try {
    if (serverInfo === undefined) await loadServerInfo();
    const checked = await verifyProvenance(msg.provenance, msg.content, serverInfo);
    const p = msg.provenance || {};
    outcome = {
      state: checked.state || (checked.ok ? "pass" : "fail"),
      code: checked.code || "bad_signature",
      vars: { operator: p.operator || serverInfo?.operator || "?", key_id: p.key_id || "?" },
    };
  } catch (err) {
    console.warn("verification error", err);
    outcome = { state: "fail", code: "malformed" };
  }
  verifyResults.set(msg, outcome);
  showVerifyResult(node, outcome);
  trigger.disabled = false;
}

// ---- streaming ------------------------------------------------------------------------------

function newAssistantMessage() {
  return {
    role: "assistant", content: "", request_id: "", model: modelName, completion_tokens: null,
    tokens_per_s: null, finish_reason: null, provenance: null, rating: 0,
  };
}

function requestBody(conv, reply) {
  const s = settings();
  const messages = [];
  if (s.system.trim()) messages.push({ role: "system", content: s.system });
  for (const m of conv.messages) {
    if (m !== reply && m.content !== "") messages.push({ role: m.role, content: m.content });
  }
  const body = {
    messages, stream: true, stream_options: { include_usage: true },
    temperature: s.temperature, top_p: s.top_p, max_tokens: s.max_tokens,
  };
  return modelName ? { model: modelName, ...body } : body;
}

// Yields the data of each server-sent event. Events, lines and multi-byte characters may be split
// across reads: the decoder keeps a partial character, the buffer a partial line. When the reader
// stops early (a [DONE], an error chunk), the rest of the body is cancelled.
async function* sseData(stream) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let data = [];
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      ended = done;
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line === "") {
          if (data.length) yield data.join("\n");
          data = [];
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).replace(/^ /, ""));
        }
      }
      if (done) break;
    }
    if (buffer.startsWith("data:")) data.push(buffer.slice(5).replace(/^ /, ""));
    if (data.length) yield data.join("\n");
  } finally {
    if (!ended) reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

class StreamError extends Error {}

function applyChunk(run, chunk) {
  const msg = run.msg;
  if (chunk.error) {
    const { error } = chunk;
    const message = typeof error === "string" ? error : error.message || JSON.stringify(error);
    throw new StreamError(message);
  }
  if (chunk.id && !msg.request_id) msg.request_id = chunk.id;
  if (chunk.model) msg.model = chunk.model;
  if (chunk.provenance) msg.provenance = chunk.provenance;
  if (chunk.usage && Number.isFinite(chunk.usage.completion_tokens)) {
    msg.completion_tokens = chunk.usage.completion_tokens;
  }
  const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : null;
  if (!choice) return;
  const piece = choice.delta && choice.delta.content;
  if (typeof piece === "string" && piece !== "") {
    const now = performance.now();
    if (!run.firstAt) run.firstAt = now;
    run.lastAt = now;
    msg.content += piece;
    scheduleRender(run);
  }
  if (choice.finish_reason) run.finish = choice.finish_reason;
}

async function readStream(run, body) {
  for await (const data of sseData(body)) {
    if (data === "[DONE]") break;
    let chunk;
    try {
      chunk = JSON.parse(data);
    } catch {
      continue;
    }
    applyChunk(run, chunk);
  }
}

function scheduleRender(run) {
  if (run.frame) return;
  run.frame = requestAnimationFrame(() => {
    run.frame = 0;
    if (!run.article || !run.article.isConnected) return;
    renderBody(run.article.querySelector(".msg-body"), run.msg);
    scrollToEnd(false);
  });
}

function updateStreamingUi() {
  const streaming = Boolean(active);
  $("stop").hidden = !streaming;
  $("send").disabled = streaming;
  for (const node of document.querySelectorAll("#messages .edit, #messages .regenerate")) {
    node.disabled = streaming;
  }
}

function tokensPerSecond(run) {
  const tokens = run.msg.completion_tokens;
  const seconds = (run.lastAt - run.firstAt) / 1000;
  if (!Number.isFinite(tokens) || !(seconds > 0)) return null;
  return Math.round((tokens / seconds) * 10) / 10;
}

function finishRun(run, finish) {
  if (run.frame) cancelAnimationFrame(run.frame);
  run.msg.finish_reason = finish;
  run.msg.tokens_per_s = tokensPerSecond(run);
  if (!run.msg.model) run.msg.model = modelName;
  active = null;
  saveStore();
  renderAll();
  scrollToEnd(false);
  announce(finish === "cancelled" ? t("reply_stopped") : t("reply_done"));
}

function dropReply(run) {
  if (run.frame) cancelAnimationFrame(run.frame);
  run.conv.messages = run.conv.messages.filter((m) => m !== run.msg);
  active = null;
  saveStore();
  renderAll();
}

async function openStream(run) {
  try {
    return await api("/v1/chat/completions", {
      method: "POST", body: requestBody(run.conv, run.msg), signal: run.controller.signal,
    });
  } catch (err) {
    if (run.cancelled) finishRun(run, "cancelled");
    else {
      dropReply(run);
      showError({ kind: "network", message: err.message || String(err) });
    }
    return null;
  }
}

async function generate(conv) {
  if (active) return;
  const msg = newAssistantMessage();
  conv.messages.push(msg);
  const run = { conv, msg, controller: new AbortController(), article: null, frame: 0,
    firstAt: 0, lastAt: 0, finish: null, cancelled: false };
  active = run;
  renderAll();
  scrollToEnd(true);
  if (!modelName) await loadModel(); // the server needs "model"; /v1/models may have failed
  const response = await openStream(run);
  if (!response) return;
  if (!response.ok) {
    const error = await apiError(response);
    dropReply(run);
    showError(error, () => generate(conv));
    return;
  }
  clearNotice();
  try {
    await readStream(run, response.body);
    finishRun(run, run.cancelled ? "cancelled" : run.finish || "stop");
  } catch (err) {
    if (run.cancelled) {
      finishRun(run, "cancelled");
      return;
    }
    finishRun(run, "error");
    showError({ kind: "stream", message: err.message || String(err) });
  }
}

function stopStreaming() {
  if (!active) return;
  active.cancelled = true;
  active.controller.abort();
}

// ---- sending --------------------------------------------------------------------------------

function isSendKey(event) {
  return event.key === "Enter" && !event.shiftKey && !event.isComposing &&
    event.keyCode !== 229;
}

function send() {
  const prompt = $("prompt");
  const text = prompt.value;
  if (active || !text.trim()) return;
  const conv = currentConversation() || createConversation();
  conv.messages.push({ role: "user", content: text });
  if (!conv.title) updateTitle(conv);
  prompt.value = "";
  resizePrompt();
  saveStore();
  generate(conv);
}

function regenerate(msg) {
  const conv = currentConversation();
  if (!conv || active) return;
  conv.messages = conv.messages.filter((m) => m !== msg);
  saveStore();
  generate(conv);
}

function resizePrompt() {
  const prompt = $("prompt");
  prompt.style.height = "auto";
  prompt.style.height = `${Math.min(prompt.scrollHeight + 2, 240)}px`;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = el("textarea", "visually-hidden");
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy failed");
}

async function onMessagesClick(event) {
  const copy = event.target.closest(".copy-code");
  if (!copy) return;
  const code = copy.closest(".code-block")?.querySelector("code");
  try {
    await copyText(code ? code.textContent : "");
    copy.textContent = t("copied");
  } catch {
    copy.textContent = t("copy_failed");
  }
  setTimeout(() => { copy.textContent = t("copy"); }, 1500);
}

// ---- wiring ---------------------------------------------------------------------------------

function wireComposer() {
  const prompt = $("prompt");
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  prompt.addEventListener("keydown", (event) => {
    if (isSendKey(event)) {
      event.preventDefault();
      send();
    }
  });
  prompt.addEventListener("input", resizePrompt);
  $("stop").addEventListener("click", () => {
    stopStreaming();
    prompt.focus();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && active) {
      event.preventDefault();
      stopStreaming();
    }
  });
}

function wireControls() {
  $("new-chat").addEventListener("click", onNewChat);
  $("key-form").addEventListener("submit", onSaveKey);
  $("clear-key").addEventListener("click", onForgetKey);
  $("messages").addEventListener("click", onMessagesClick);
  $("messages").addEventListener("scroll", onMessagesScroll, { passive: true });
  for (const id of ["system-prompt", "temperature", "top-p", "max-tokens"]) {
    $(id).addEventListener("change", saveSettings);
    $(id).addEventListener("input", saveSettings);
  }
}

function onLanguage() {
  renderAll();
  renderNotice();
  if (modelLoaded && !modelName) $("model-name").textContent = t("model_unknown");
}

function start() {
  mountLangSwitch($("lang"));
  setLang(lang(), false);
  onLangChange(onLanguage);
  loadStore();
  loadSettings();
  wireComposer();
  wireControls();
  renderAll();
  scrollToEnd(true);
  loadModel();
  loadServerInfo();
  $("prompt").focus();
}

start();
