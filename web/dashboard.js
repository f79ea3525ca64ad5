// dashboard.js: dari's operator dashboard. Polls GET /metrics (every 2 s) and GET /admin/status
// (every 5 s and right after pause/resume), keeps five minutes of history for the charts, and
// offers the operator's controls: pause/resume generation, API keys, feedback, incidents, audit.

import {
  t, addStrings, lang, setLang, mountLangSwitch, api, apiError, apiKey, setApiKey, onLangChange, el,
} from "./common.js";
import * as prom from "./prometheus.js";
import { LineChart, BarChart } from "./charts.js";

const METRICS_EVERY_MS = 2000;
const STATUS_EVERY_MS = 5000;
const REQUEST_TIMEOUT_MS = 8000;
const HISTORY_MS = 5 * 60 * 1000;
const HOUR_MS = 60 * 60 * 1000;
const API_ENDPOINTS = ["/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/embeddings"];
const TTFT = "gen_ai_server_time_to_first_token_seconds";
const TPOT = "gen_ai_server_time_per_output_token_seconds";
const MAX_COMMENTS = 20;

addStrings({
  en: {
    "dash.title": "dari dashboard",
    "dash.skip": "Skip to the dashboard",
    "dash.operator": "Operator",
    "dash.deployment": "Deployment",
    "dash.language": "Language",
    "dash.backToChat": "Back to chat",
    "dash.keyHeading": "Admin key needed",
    "dash.keyNeeded": "This dashboard needs an API key with the admin scope (or open it on the server's own machine).",
    "dash.keyRejected": "The server said: {message}",
    "dash.apiKey": "API key",
    "dash.saveKey": "Save key",
    "dash.summary": "Summary",
    "dash.requestsTotal": "API requests answered",
    "dash.tokensTotal": "Tokens generated",
    "dash.inFlight": "Requests in progress",
    "dash.updated": "Last update",
    "dash.oversight": "Human oversight",
    "dash.serving": "Serving",
    "dash.paused": "Paused: {reason}",
    "dash.pausedNoReason": "Paused",
    "dash.reason": "Reason",
    "dash.reasonPlaceholder": "e.g. maintenance",
    "dash.cancelInFlight": "Also stop requests in progress",
    "dash.pause": "Pause generation",
    "dash.resume": "Resume",
    "dash.pauseFailed": "Could not pause generation: {message}",
    "dash.resumeFailed": "Could not resume: {message}",
    "dash.audit": "Audit log",
    "dash.auditOk": "Audit chain verified: {rows} rows",
    "dash.auditBad": "Audit chain broken at row {seq}: {message}",
    "dash.auditFailed": "Audit check failed: {message}",
    "dash.auditOff": "Audit is off",
    "dash.auditChecked": "(checked {time})",
    "dash.charts": "Live metrics (last 5 minutes)",
    "dash.chart.rps": "API requests per second",
    "dash.chart.tps": "Output tokens per second",
    "dash.chart.ttft": "Time to first token",
    "dash.chart.tpot": "Time per output token",
    "dash.chart.queue": "Requests waiting and running",
    "dash.chart.kv": "KV cache use",
    "dash.chart.prefix": "Prefix cache hit rate",
    "dash.s.requests": "Requests",
    "dash.s.tokens": "Tokens",
    "dash.s.p50": "p50",
    "dash.s.p99": "p99",
    "dash.s.waiting": "Waiting",
    "dash.s.running": "Running",
    "dash.s.used": "In use",
    "dash.s.cached": "Cached",
    "dash.s.interval": "Last interval",
    "dash.s.lifetime": "Since start",
    "dash.unit.perSecond": "{v}/s",
    "dash.unit.ms": "{v} ms",
    "dash.unit.percent": "{v}%",
    "dash.now": "now",
    "dash.minutesAgo": "-{n} min",
    "dash.hoursAgo": "-{n} h",
    "dash.noData": "no data yet",
    "dash.keys": "API keys",
    "dash.noKeys": "No API keys yet",
    "dash.col.name": "Name",
    "dash.col.keyId": "Key id",
    "dash.col.scopes": "Scopes",
    "dash.col.requests": "Requests",
    "dash.col.tokens": "Tokens charged",
    "dash.col.left": "Tokens left today",
    "dash.col.rpm": "Requests per minute",
    "dash.col.revoked": "Revoked",
    "dash.unlimited": "Unlimited",
    "dash.leftOf": "{left} / {total}",
    "dash.leftLabel": "Tokens left today for {name}",
    "dash.yes": "Yes",
    "dash.no": "No",
    "dash.feedback": "Feedback",
    "dash.feedbackChart": "Ratings per hour, last 24 hours",
    "dash.feedbackSummary": "Ratings in the last 24 hours: {good} good, {bad} bad",
    "dash.good": "Good",
    "dash.bad": "Bad",
    "dash.comments": "Latest comments",
    "dash.noComments": "No comments yet",
    "dash.request": "Request {id}",
    "dash.incidents": "Incidents",
    "dash.noIncidents": "No incidents",
    "dash.unreachable": "Cannot reach the server ({message}). Retrying…",
    "dash.metricsError": "Metrics are unavailable: {message}",
    "dash.statusError": "Server status is unavailable: {message}",
  },
  ko: {
    "dash.title": "dari 대시보드",
    "dash.skip": "대시보드 본문으로 건너뛰기",
    "dash.operator": "운영자",
    "dash.deployment": "배포 ID",
    "dash.language": "언어",
    "dash.backToChat": "채팅으로 돌아가기",
    "dash.keyHeading": "관리자 키가 필요합니다",
    "dash.keyNeeded": "이 대시보드를 보려면 관리자(admin) 권한이 있는 API 키가 필요합니다. 서버가 실행 중인 컴퓨터에서 열면 키 없이 볼 수 있습니다.",
    "dash.keyRejected": "서버 응답: {message}",
    "dash.apiKey": "API 키",
    "dash.saveKey": "키 저장",
    "dash.summary": "요약",
    "dash.requestsTotal": "처리한 API 요청",
    "dash.tokensTotal": "생성한 토큰",
    "dash.inFlight": "처리 중인 요청",
    "dash.updated": "마지막 갱신",
    "dash.oversight": "운영자 감독",
    "dash.serving": "서비스 중",
    "dash.paused": "일시 중지됨: {reason}",
    "dash.pausedNoReason": "일시 중지됨",
    "dash.reason": "사유",
    "dash.reasonPlaceholder": "예: 정기 점검",
    "dash.cancelInFlight": "처리 중인 요청도 중단",
    "dash.pause": "생성 일시 중지",
    "dash.resume": "재개",
    "dash.pauseFailed": "생성을 일시 중지하지 못했습니다: {message}",
    "dash.resumeFailed": "재개하지 못했습니다: {message}",
    "dash.audit": "감사 로그",
    "dash.auditOk": "감사 체인 검증 완료: {rows}행",
    "dash.auditBad": "감사 체인이 {seq}번 행에서 손상되었습니다: {message}",
    "dash.auditFailed": "감사 검증에 실패했습니다: {message}",
    "dash.auditOff": "감사 로그가 꺼져 있습니다",
    "dash.auditChecked": "({time} 확인)",
    "dash.charts": "실시간 지표 (최근 5분)",
    "dash.chart.rps": "초당 API 요청",
    "dash.chart.tps": "초당 출력 토큰",
    "dash.chart.ttft": "첫 토큰까지 걸린 시간",
    "dash.chart.tpot": "출력 토큰당 시간",
    "dash.chart.queue": "대기 중·실행 중인 요청",
    "dash.chart.kv": "KV 캐시 사용률",
    "dash.chart.prefix": "프리픽스 캐시 적중률",
    "dash.s.requests": "요청",
    "dash.s.tokens": "토큰",
    "dash.s.p50": "p50",
    "dash.s.p99": "p99",
    "dash.s.waiting": "대기",
    "dash.s.running": "실행",
    "dash.s.used": "사용 중",
    "dash.s.cached": "캐시됨",
    "dash.s.interval": "최근 구간",
    "dash.s.lifetime": "시작 이후",
    "dash.unit.perSecond": "{v}/초",
    "dash.unit.ms": "{v}ms",
    "dash.unit.percent": "{v}%",
    "dash.now": "지금",
    "dash.minutesAgo": "-{n}분",
    "dash.hoursAgo": "-{n}시간",
    "dash.noData": "아직 데이터가 없습니다",
    "dash.keys": "API 키",
    "dash.noKeys": "아직 API 키가 없습니다",
    "dash.col.name": "이름",
    "dash.col.keyId": "키 ID",
    "dash.col.scopes": "권한 범위",
    "dash.col.requests": "요청 수",
    "dash.col.tokens": "청구된 토큰",
    "dash.col.left": "오늘 남은 토큰",
    "dash.col.rpm": "분당 요청 한도",
    "dash.col.revoked": "폐기됨",
    "dash.unlimited": "무제한",
    "dash.leftOf": "{left} / {total}",
    "dash.leftLabel": "{name}의 오늘 남은 토큰",
    "dash.yes": "예",
    "dash.no": "아니요",
    "dash.feedback": "피드백",
    "dash.feedbackChart": "최근 24시간 시간대별 평가",
    "dash.feedbackSummary": "최근 24시간 평가: 좋아요 {good}건, 별로예요 {bad}건",
    "dash.good": "좋아요",
    "dash.bad": "별로예요",
    "dash.comments": "최근 의견",
    "dash.noComments": "아직 의견이 없습니다",
    "dash.request": "요청 {id}",
    "dash.incidents": "사고 목록",
    "dash.noIncidents": "사고 없음",
    "dash.unreachable": "서버에 연결할 수 없습니다({message}). 다시 시도하는 중…",
    "dash.metricsError": "지표를 가져오지 못했습니다: {message}",
    "dash.statusError": "서버 상태를 가져오지 못했습니다: {message}",
  },
});

const $ = (id) => document.getElementById(id);

const state = {
  history: [], // [{t, rps, tps, ttft: [p50, p99], tpot: [p50, p99], queue, kv, prefix}]
  previous: null, // {t, samples} of the last successful scrape
  lifetimeHitRate: null,
  status: null,
  failures: { metrics: null, status: null, action: null }, // each null or {kind, message}
  stopped: { metrics: false, status: false }, // polling halted by an auth failure
  busy: false,
};

// ---- formatting -------------------------------------------------------------------------

function number(v, maxDigits = 0) {
  return new Intl.NumberFormat(lang(), { maximumFractionDigits: maxDigits }).format(v);
}

// A measurement with as many decimals as its size deserves.
function measure(v) {
  const a = Math.abs(v);
  return number(v, a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

const perSecond = (v) => t("dash.unit.perSecond", { v: measure(v) });
const millis = (v) => t("dash.unit.ms", { v: measure(v) });
const percent = (v) => t("dash.unit.percent", { v: number(v, v < 10 ? 1 : 0) });
const count = (v) => number(v);

function clockTime(ms) {
  return new Intl.DateTimeFormat(lang(), { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(ms);
}

function dateTime(ms) {
  return new Intl.DateTimeFormat(lang(), { dateStyle: "short", timeStyle: "medium" }).format(ms);
}

// A <time> element for an epoch-milliseconds instant ("—" when the server sent no valid time:
// toISOString and Intl would throw, and one bad row must not hide the whole status).
function timeElement(ms) {
  const time = el("time");
  const date = new Date(ms);
  if (!Number.isFinite(date.getTime())) {
    time.textContent = "—";
    return time;
  }
  time.dateTime = date.toISOString();
  time.textContent = dateTime(date);
  return time;
}

// A server field as text: strings as they are, other values as JSON, missing ones as "".
function asText(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

// ---- charts ------------------------------------------------------------------------------

const axisText = {
  now: () => t("dash.now"),
  minutesAgo: (n) => t("dash.minutesAgo", { n }),
  noData: () => t("dash.noData"),
};

// Each chart: its figure id, how to read a history point, and its look.
const CHARTS = [
  { id: "chart-rps", title: "dash.chart.rps", series: ["dash.s.requests"], format: perSecond,
    pick: (p) => [p.rps], scale: { minTop: 1 } },
  { id: "chart-tps", title: "dash.chart.tps", series: ["dash.s.tokens"], format: perSecond,
    pick: (p) => [p.tps], scale: { minTop: 10 } },
  { id: "chart-ttft", title: "dash.chart.ttft", series: ["dash.s.p50", "dash.s.p99"], format: millis,
    pick: (p) => p.ttft, scale: { minTop: 10 } },
  { id: "chart-tpot", title: "dash.chart.tpot", series: ["dash.s.p50", "dash.s.p99"], format: millis,
    pick: (p) => p.tpot, scale: { minTop: 10 } },
  { id: "chart-queue", title: "dash.chart.queue", series: ["dash.s.waiting", "dash.s.running"], format: count,
    pick: (p) => p.queue, scale: { integer: true, minTop: 2 } },
  { id: "chart-kv", title: "dash.chart.kv", series: ["dash.s.used", "dash.s.cached"], format: percent,
    pick: (p) => p.kv, scale: { fixedMax: 100 } },
  { id: "chart-prefix", title: "dash.chart.prefix", series: ["dash.s.interval"], format: percent,
    pick: (p) => [p.prefix], scale: { fixedMax: 100 },
    extra: () => ({
      label: t("dash.s.lifetime"),
      value: state.lifetimeHitRate === null ? "—" : percent(state.lifetimeHitRate),
    }) },
];

const charts = new Map();

function createCharts() {
  for (const spec of CHARTS) {
    const chart = new LineChart($(spec.id), {
      title: () => t(spec.title),
      series: spec.series.map((key) => ({ label: () => t(key) })),
      format: spec.format,
      scale: spec.scale,
      extra: spec.extra ?? null,
      text: axisText,
    });
    charts.set(spec.id, { chart, spec });
  }
}

function drawCharts() {
  const now = Date.now();
  for (const { chart, spec } of charts.values()) {
    chart.update(state.history.map((p) => ({ t: p.t, values: spec.pick(p) })), now);
  }
}

// ---- metrics -----------------------------------------------------------------------------

function requestsAnswered(samples) {
  return prom.sum(samples, "dari_http_requests_total", { endpoint: API_ENDPOINTS }) ?? 0;
}

function tokensGenerated(samples) {
  return prom.sum(samples, "dari_generation_tokens_total") ??
    prom.sum(samples, "gen_ai_client_token_usage_output_total");
}

function ratio(part, whole) {
  return part === null || whole === null || !(whole > 0) ? null : (100 * part) / whole;
}

// Quantiles of what a histogram gained since the previous scrape, in milliseconds.
function latencies(previous, samples, name) {
  if (!previous) return [null, null];
  return [0.5, 0.99].map((q) => {
    const v = prom.histogramQuantile(q, previous.samples, samples, name);
    return v === null ? null : v * 1000;
  });
}

// One history point from the current scrape and the one before it.
function historyPoint(previous, samples, now) {
  const seconds = previous ? (now - previous.t) / 1000 : 0;
  const before = previous ? previous.samples : null;
  const counterRate = (read) => (before ? prom.rate(read(before), read(samples), seconds) : null);
  const hits = counterRate((s) => prom.sum(s, "dari_prefix_cache_hits_total"));
  const queries = counterRate((s) => prom.sum(s, "dari_prefix_cache_queries_total"));
  const kvTotal = prom.value(samples, "dari_kv_blocks_total");
  return {
    t: now,
    rps: counterRate(requestsAnswered),
    tps: counterRate(tokensGenerated),
    ttft: latencies(previous, samples, TTFT),
    tpot: latencies(previous, samples, TPOT),
    queue: [prom.value(samples, "dari_requests_waiting"), prom.value(samples, "dari_requests_running")],
    kv: [ratio(prom.value(samples, "dari_kv_blocks_used"), kvTotal),
      ratio(prom.value(samples, "dari_kv_blocks_cached"), kvTotal)],
    prefix: queries ? ratio(hits, queries) : null,
  };
}

function renderTotals(samples, now) {
  const requests = requestsAnswered(samples);
  const total = $("requests-total");
  total.textContent = String(requests);
  total.dataset.value = String(requests);
  const tokens = tokensGenerated(samples);
  $("tokens-total").textContent = tokens === null ? "—" : number(tokens);
  const inFlight = prom.value(samples, "dari_http_requests_in_flight");
  $("in-flight").textContent = inFlight === null ? "—" : number(inFlight);
  const updated = $("last-update");
  updated.textContent = clockTime(now);
  updated.dataset.time = String(now);
}

function acceptScrape(text) {
  const now = Date.now();
  const samples = prom.parsePrometheus(text);
  state.history.push(historyPoint(state.previous, samples, now));
  state.history = state.history.filter((p) => p.t >= now - HISTORY_MS);
  state.previous = { t: now, samples };
  const hit = prom.value(samples, "dari_prefix_cache_hit_rate");
  state.lifetimeHitRate = hit === null ? null : hit * 100;
  renderTotals(samples, now);
  drawCharts();
}

// ---- requests and failures ---------------------------------------------------------------

function timeoutSignal() {
  return typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(REQUEST_TIMEOUT_MS) : undefined;
}

// Fetches a path; resolves to the Response when it is OK, else records why under `source`.
async function fetchOk(path, source) {
  let response;
  try {
    response = await api(path, { signal: timeoutSignal() });
  } catch (err) {
    setFailure(source, { kind: "network", message: err && err.message ? err.message : String(err) });
    return null;
  }
  if (response.ok) return response;
  setFailure(source, await apiError(response));
  return null;
}

// Records (or clears, with null) the problem of one source; polling of a source whose
// credentials were refused stops until a key is saved, so it does not add failed logins.
function setFailure(source, failure) {
  state.failures[source] = failure;
  if (source in state.stopped) state.stopped[source] = Boolean(failure && failure.kind === "auth");
  renderProblems();
}

// The key panel for refused credentials; the notice for every other problem.
function renderProblems() {
  const failures = Object.entries(state.failures).filter(([, f]) => f);
  const auth = failures.find(([, f]) => f.kind === "auth");
  $("key-panel").hidden = !auth;
  const detail = $("key-error");
  detail.hidden = !(auth && apiKey());
  detail.textContent = auth ? t("dash.keyRejected", { message: auth[1].message }) : "";
  const notice = $("notice");
  const lines = new Set(failures.filter(([, f]) => f.kind !== "auth").map(([source, f]) => problemText(source, f)));
  notice.textContent = [...lines].join(" ");
  notice.hidden = lines.size === 0;
}

function problemText(source, failure) {
  if (failure.kind === "network") return t("dash.unreachable", { message: failure.message });
  if (source === "action") return failure.message;
  return t(source === "metrics" ? "dash.metricsError" : "dash.statusError", { message: failure.message });
}

// ---- polling -----------------------------------------------------------------------------

async function loadMetrics() {
  const response = await fetchOk("/metrics", "metrics");
  if (!response) return;
  try {
    acceptScrape(await response.text());
    setFailure("metrics", null);
  } catch (err) {
    setFailure("metrics", { kind: "error", message: String(err) });
  }
}

// A function that runs `load` now and then every `everyMs` until state.stopped[key] is set. A
// call while a load is running does not overlap it: one more load follows that one instead.
function poller(load, everyMs, key) {
  let timer = 0;
  let running = false;
  let again = false;
  const poll = async () => {
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = true;
    do {
      again = false;
      await load();
    } while (again);
    running = false;
    if (!state.stopped[key]) timer = setTimeout(poll, everyMs);
  };
  return poll;
}

// Scrapes now (once more after the current scrape when one is running), then every 2 s.
const pollMetrics = poller(loadMetrics, METRICS_EVERY_MS, "metrics");

async function loadStatus() {
  const response = await fetchOk("/admin/status", "status");
  if (!response) return;
  try {
    state.status = await response.json();
    renderStatus();
    setFailure("status", null);
  } catch (err) {
    setFailure("status", { kind: "error", message: String(err) });
  }
}

// Loads the status now (once more after the current load when one is running), then every 5 s.
const refreshStatus = poller(loadStatus, STATUS_EVERY_MS, "status");

function restartPolling() {
  state.stopped.metrics = false;
  state.stopped.status = false;
  pollMetrics();
  refreshStatus();
}

// ---- status: header, pause state, audit --------------------------------------------------

function renderStatus() {
  const s = state.status;
  if (!s) return;
  $("operator").textContent = s.operator || "—";
  $("deployment-id").textContent = s.deployment_id || "—";
  renderPause(Boolean(s.paused), s.pause_reason || "");
  renderAudit(s.audit);
  renderKeys(Array.isArray(s.keys) ? s.keys : []);
  renderFeedback(Array.isArray(s.feedback) ? s.feedback : []);
  renderIncidents(Array.isArray(s.incidents) ? s.incidents : []);
}

function renderPause(paused, reason) {
  const node = $("pause-state");
  node.dataset.paused = String(paused);
  node.classList.remove("unknown");
  node.textContent = !paused ? t("dash.serving")
    : reason ? t("dash.paused", { reason }) : t("dash.pausedNoReason");
  updateButtons();
}

function updateButtons() {
  const known = state.status !== null;
  const paused = $("pause-state").dataset.paused === "true";
  $("pause").disabled = state.busy || !known || paused;
  $("resume").disabled = state.busy || !known || !paused;
}

function renderAudit(audit) {
  const node = $("audit-status");
  if (!audit || !audit.enabled) {
    node.dataset.ok = "true";
    node.dataset.enabled = "false";
    node.textContent = t("dash.auditOff");
    return;
  }
  node.dataset.enabled = "true";
  node.dataset.ok = String(Boolean(audit.ok));
  let text;
  if (audit.ok) text = t("dash.auditOk", { rows: number(audit.rows ?? 0) });
  else if (audit.bad_seq !== undefined && audit.bad_seq >= 0) {
    text = t("dash.auditBad", { seq: audit.bad_seq, message: audit.message || "" });
  } else text = t("dash.auditFailed", { message: audit.message || "" });
  if (audit.checked_ms > 1e12) text += ` ${t("dash.auditChecked", { time: clockTime(audit.checked_ms) })}`;
  node.textContent = text;
}

// ---- keys --------------------------------------------------------------------------------

function cell(row, content, className) {
  const td = el("td", className);
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  row.append(td);
  return td;
}

// "Tokens left today": a meter and "left / per day", or "Unlimited".
function allowanceCell(row, key) {
  const perDay = Number(key.tokens_per_day) || 0;
  const left = Number(key.tokens_left_today);
  if (perDay <= 0 || left < 0) return cell(row, t("dash.unlimited"));
  const wrap = el("div", "allowance");
  const meter = el("meter");
  meter.min = 0;
  meter.max = perDay;
  meter.value = Math.max(0, Math.min(left, perDay));
  meter.low = perDay * 0.2;
  meter.optimum = perDay;
  meter.setAttribute("aria-label", t("dash.leftLabel", { name: asText(key.name || key.key_id) }));
  const text = el("span", "allowance-text", t("dash.leftOf", { left: number(left), total: number(perDay) }));
  wrap.append(meter, text);
  return cell(row, wrap);
}

function keyRow(key) {
  const row = el("tr", key.revoked ? "revoked" : "");
  row.dataset.keyId = asText(key.key_id);
  cell(row, asText(key.name) || "—");
  cell(row, el("code", "", asText(key.key_id)));
  cell(row, String(key.scopes || "").split(",").filter(Boolean).join(", "));
  cell(row, number(key.requests ?? 0), "num");
  cell(row, number(key.tokens_charged ?? 0), "num");
  allowanceCell(row, key);
  const rpm = Number(key.requests_per_minute) || 0;
  cell(row, rpm > 0 ? number(rpm) : t("dash.unlimited"), "num");
  cell(row, key.revoked ? t("dash.yes") : t("dash.no"));
  return row;
}

function renderKeys(keys) {
  $("keys-body").replaceChildren(...keys.map(keyRow));
  $("keys-empty").hidden = keys.length > 0;
  $("keys-scroll").hidden = keys.length === 0;
}

// ---- feedback ----------------------------------------------------------------------------

// Ratings per hour over the last 24 hours, oldest hour first: [[good, bad], ...].
function feedbackBins(feedback, now) {
  const bins = Array.from({ length: 24 }, () => [0, 0]);
  for (const f of feedback) {
    const age = now - Number(f.time_ms);
    if (!(age >= 0 && age < 24 * HOUR_MS) || !f.rating) continue;
    bins[23 - Math.floor(age / HOUR_MS)][f.rating > 0 ? 0 : 1] += 1;
  }
  return bins;
}

let feedbackChart = null;

function createFeedbackChart() {
  feedbackChart = new BarChart($("feedback-chart"), {
    series: [{ label: () => t("dash.good") }, { label: () => t("dash.bad") }],
    describe: ([good, bad]) => t("dash.feedbackSummary", { good, bad }),
    binLabel: (i, n) => {
      if (i === n - 1) return t("dash.now");
      return i % 6 === 0 ? t("dash.hoursAgo", { n: n - i }) : null;
    },
  });
}

function ratingBadge(rating) {
  const good = rating > 0;
  const badge = el("span", `rating ${good ? "rating-good" : "rating-bad"}`, good ? "👍" : "👎");
  badge.setAttribute("role", "img");
  badge.setAttribute("aria-label", t(good ? "dash.good" : "dash.bad"));
  badge.title = t(good ? "dash.good" : "dash.bad");
  return badge;
}

function feedbackItem(f) {
  const li = el("li", "feedback-item");
  const meta = el("div", "item-meta");
  meta.append(timeElement(Number(f.time_ms)), ratingBadge(Number(f.rating)));
  if (f.request_id) {
    const id = el("code", "request-id", asText(f.request_id));
    id.title = t("dash.request", { id: asText(f.request_id) });
    meta.append(id);
  }
  li.append(meta, el("p", "item-text", f.text));
  return li;
}

function renderFeedback(feedback) {
  feedbackChart.update(feedbackBins(feedback, Date.now()));
  const comments = feedback
    .filter((f) => typeof f.text === "string" && f.text.trim() !== "")
    .sort((a, b) => Number(b.time_ms) - Number(a.time_ms))
    .slice(0, MAX_COMMENTS);
  $("feedback-list").replaceChildren(...comments.map(feedbackItem));
  $("feedback-empty").hidden = comments.length > 0;
}

// ---- incidents ---------------------------------------------------------------------------

function incidentItem(entry) {
  const incident = entry.incident || {};
  const li = el("li", "incident-item");
  const meta = el("div", "item-meta");
  const kind = el("strong", "incident-kind", asText(incident.kind) || "—");
  meta.append(timeElement(Number(entry.time_ms)), kind);
  if (incident.request_id) meta.append(el("code", "request-id", asText(incident.request_id)));
  li.append(meta, el("p", "item-text", asText(incident.detail)));
  return li;
}

function renderIncidents(incidents) {
  const sorted = [...incidents].sort((a, b) => Number(b.time_ms) - Number(a.time_ms));
  $("incident-list").replaceChildren(...sorted.map(incidentItem));
  $("incidents-empty").hidden = incidents.length > 0;
}

// ---- controls ----------------------------------------------------------------------------

function setBusy(busy) {
  state.busy = busy;
  updateButtons();
}

// POSTs a pause or resume; on success shows the new state at once and reloads the status.
async function oversight(path, body, failureKey, focusAfter) {
  setBusy(true);
  state.failures.action = null;
  let done = false;
  try {
    const response = await api(path, { method: "POST", body });
    if (response.ok) {
      const answer = (await response.json().catch(() => null)) || {};
      if (typeof answer.paused === "boolean") renderPause(answer.paused, body.reason || "");
      done = true;
    } else {
      const err = await apiError(response);
      state.failures.action = { kind: err.kind === "auth" ? "auth" : "error", message: t(failureKey, { message: err.message }) };
    }
  } catch (err) {
    state.failures.action = { kind: "error", message: t(failureKey, { message: String(err.message || err) }) };
  }
  setBusy(false);
  renderProblems();
  if (done) $(focusAfter).focus();
  await refreshStatus();
}

function wireControls() {
  $("pause-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if ($("pause").disabled) return;
    const body = { reason: $("pause-reason").value.trim(), cancel_in_flight: $("cancel-in-flight").checked };
    oversight("/admin/pause", body, "dash.pauseFailed", "resume");
  });
  $("resume").addEventListener("click", () => {
    oversight("/admin/resume", {}, "dash.resumeFailed", "pause");
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("api-key").value);
    $("api-key").value = "";
    state.failures.action = null;
    restartPolling();
  });
}

// ---- language ----------------------------------------------------------------------------

function rerender() {
  document.title = t("dash.title");
  drawCharts();
  if (state.status) renderStatus();
  else updateButtons();
  if (state.previous) renderTotals(state.previous.samples, state.previous.t);
  renderProblems();
}

// ---- start -------------------------------------------------------------------------------

function addKeyErrorLine() {
  const p = el("p", "key-error");
  p.id = "key-error";
  p.hidden = true;
  $("key-message").after(p);
}

function start() {
  addKeyErrorLine();
  mountLangSwitch($("lang"));
  setLang(lang(), false); // translates the static markup; rerender listens once charts exist
  document.title = t("dash.title");
  createCharts();
  createFeedbackChart();
  feedbackChart.update(feedbackBins([], Date.now()));
  drawCharts();
  updateButtons();
  wireControls();
  onLangChange(rerender);
  restartPolling();
}

start();
