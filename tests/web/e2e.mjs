// The chat page and the operator dashboard of `dari serve`, driven in Chromium by playwright-core
// (run_test.sh starts the servers). Server A: plain HTTP on loopback, default policy (no key
// needed). Server B: HTTPS with a self-signed certificate and keys required everywhere.
// Env: DARI_URL_A, DARI_URL_B, DARI_USER_KEY (infer scope on B), DARI_ADMIN_KEY (infer+admin on
// B), DARI_LIMITED_KEY (infer on B, one request per minute), DARI_CHROMIUM (the browser), DARI_SCREENSHOTS (folder for the screenshots docs/ shows).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const A = process.env.DARI_URL_A;
const B = process.env.DARI_URL_B;
const shots = process.env.DARI_SCREENSHOTS;
const TIMEOUT = 30000;
let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.DARI_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
});
after(async () => { await browser?.close(); });

// A fresh page (own storage) that fails the test on any console error or page exception.
async function openPage(url, { lang = "en-US", https = false } = {}) {
  const context = await browser.newContext({
    locale: lang, ignoreHTTPSErrors: https, viewport: { width: 1280, height: 860 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.errors = [];
  // Logged at once too: a test that times out never reaches closePage's check.
  const report = (text) => { page.errors.push(text); console.error(`[${url}] ${text}`); };
  page.on("pageerror", (e) => report(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // Failed API calls the test provokes (401, 503) are logged by Chromium as resource errors.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) {
      report(`console: ${m.text()}`);
    }
  });
  await page.goto(url);
  return page;
}
async function closePage(page) {
  assert.deepEqual(page.errors, [], "the page logged errors");
  await page.context().close();
}

// Types a message with the keyboard and sends it with Enter; resolves to the new reply.
async function send(page, text) {
  const before = await page.locator('article.msg[data-role="assistant"]').count();
  await page.locator("#prompt").click();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
  const reply = page.locator('article.msg[data-role="assistant"]').nth(before);
  await reply.waitFor();
  return reply;
}
async function finished(reply) {
  await reply.locator("xpath=self::*[@data-streaming='false']").waitFor({ timeout: TIMEOUT });
  return reply.getAttribute("data-finish");
}
async function verify(reply) {
  await reply.locator("button.verify").click();
  const result = reply.locator(".verify-result");
  await result.locator("xpath=self::*[@data-state]").waitFor();
  await page_wait(() => result.getAttribute("data-state").then((s) => s !== "pending"));
  return { state: await result.getAttribute("data-state"), text: await result.innerText() };
}
async function page_wait(cond, ms = TIMEOUT) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("timed out waiting for a condition");
}
async function json(url, opts = {}) {
  const r = await fetch(url, opts);
  return { status: r.status, body: await r.json() };
}

// Every visible control has an accessible name (label, aria-label, aria-labelledby, title or
// text); returns the ones that lack it.
async function unlabelled(page) {
  return page.$$eval("button, input, select, textarea, a[href], [role=button]", (els) =>
    els.filter((el) => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === "hidden") return false;
      const by = el.getAttribute("aria-labelledby");
      const name = (el.getAttribute("aria-label") || "") +
        (by ? by.split(" ").map((id) => document.getElementById(id)?.textContent || "").join("") : "") +
        (el.labels ? [...el.labels].map((l) => l.textContent).join("") : "") +
        (el.getAttribute("title") || "") + (el.tagName === "INPUT" ? "" : el.textContent || "");
      return name.trim() === "";
    }).map((el) => el.outerHTML.slice(0, 120)));
}

test("chat: a streamed reply carries the AI-generated label and its signature verifies", async () => {
  const info = (await json(`${A}/v1/provenance`)).body;
  const page = await openPage(A);
  await assert.doesNotReject(page.locator("#model-name").filter({ hasText: "stories" }).waitFor());
  const reply = await send(page, "Once upon a time");
  assert.ok(["stop", "length"].includes(await finished(reply)));
  const text = await reply.locator(".msg-body").innerText();
  assert.ok(text.trim().length > 0, "empty reply");
  const label = reply.locator(".ai-label");
  assert.ok(await label.isVisible(), "AI-generated label not visible");
  assert.equal((await label.innerText()).trim(), info.label.en);
  assert.match(await reply.locator(".msg-meta").innerText(), /stories/);
  const v = await verify(reply);
  assert.equal(v.state, "pass", v.text);
  // The details view shows the signed record.
  await reply.locator("button.details").click();
  const details = await reply.locator(".provenance-details").innerText();
  assert.match(details, new RegExp(info.key_id));
  assert.match(details, /"signature"/);
  if (shots) await page.screenshot({ path: `${shots}/web-chat.png` });
  await closePage(page);
});

test("chat: verification fails once the stored reply text is altered", async () => {
  const page = await openPage(A);
  const reply = await send(page, "The little dog");
  await finished(reply);
  assert.equal((await verify(reply)).state, "pass");
  await page.evaluate(() => {
    const store = JSON.parse(localStorage.getItem("dari.chat.v1"));
    const conv = store.conversations.find((c) => c.id === store.current);
    const msg = conv.messages.filter((m) => m.role === "assistant").at(-1);
    msg.content = msg.content + " (edited)";
    localStorage.setItem("dari.chat.v1", JSON.stringify(store));
  });
  await page.reload();
  const stored = page.locator('article.msg[data-role="assistant"]').last();
  await assert.doesNotReject(stored.locator(".msg-body").filter({ hasText: "(edited)" }).waitFor());
  const v = await verify(stored);
  assert.equal(v.state, "fail", v.text);
  await closePage(page);
});

test("chat: stop interrupts a long reply", async () => {
  const page = await openPage(A);
  // The first reply far longer than the test (the story may not end on its own): the page's
  // own fetch adds ignore_eos to that one request, without intercepting the network.
  await page.evaluate(() => {
    const realFetch = window.fetch;
    let first = true;
    window.fetch = (url, opts = {}) => {
      if (first && String(url).endsWith("/v1/chat/completions") && typeof opts.body === "string") {
        first = false;
        const body = JSON.parse(opts.body);
        opts = { ...opts, body: JSON.stringify({ ...body, ignore_eos: true, max_tokens: 4000 }) };
      }
      return realFetch(url, opts);
    };
  });
  const reply = await send(page, "Tell me a long story");
  await reply.locator(".msg-body").filter({ hasText: /\S/ }).waitFor();
  assert.ok(await page.locator("#stop").isVisible(), "no stop button while streaming");
  await page.locator("#stop").click();
  assert.equal(await finished(reply), "cancelled");
  assert.ok(!(await page.locator("#stop").isVisible()), "stop button still shown");
  const partial = await reply.locator(".msg-body").innerText();
  assert.ok(partial.trim().length > 0, "the partial text was lost");
  // The conversation goes on after a stop.
  const next = await send(page, "Again");
  assert.ok(["stop", "length"].includes(await finished(next)));
  await closePage(page);
});

test("chat: feedback reaches the audit trail", async () => {
  const page = await openPage(A);
  const reply = await send(page, "A cat sat");
  await finished(reply);
  const stored = await page.evaluate(() => {
    const store = JSON.parse(localStorage.getItem("dari.chat.v1"));
    return store.conversations.find((c) => c.id === store.current).messages.at(-1).request_id;
  });
  assert.match(stored, /^chatcmpl-/);
  await reply.locator("button.rate-up").click();
  assert.equal(await reply.locator("button.rate-up").getAttribute("aria-pressed"), "true");
  const form = reply.locator(".feedback-form");
  await form.locator("textarea").fill("a lovely little story");
  await form.locator("button[type=submit], button.send-feedback").first().click();
  await reply.locator(".feedback-status").filter({ hasText: /\S/ }).waitFor();
  const status = (await json(`${A}/admin/status`)).body;
  const row = status.feedback.find((f) => f.request_id === stored);
  assert.ok(row, "the feedback is not in the audit trail");
  assert.equal(row.rating, 1);
  assert.equal(row.text, "a lovely little story");
  await closePage(page);
});

test("chat: keyboard only, and every control is labelled", async () => {
  const page = await openPage(A);
  assert.deepEqual(await unlabelled(page), []);
  await page.locator("#prompt").focus();
  await page.keyboard.type("Hello there");
  // Tab moves from the message box to the send button, which Enter presses.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "send");
  await page.keyboard.press("Enter");
  const reply = page.locator('article.msg[data-role="assistant"]').first();
  await finished(reply);
  assert.deepEqual(await unlabelled(page), []);
  assert.ok(await page.getByRole("button", { name: "Send" }).isVisible());
  assert.ok(await page.getByLabel("Message", { exact: true }).isVisible());
  await closePage(page);
});

test("dashboard: the request count rises after a chat, controls are labelled", async () => {
  const dash = await openPage(`${A}/dashboard`);
  const count = async () => Number((await dash.locator("#requests-total").innerText()).replace(/\D/g, ""));
  await page_wait(async () => /\d/.test(await dash.locator("#requests-total").innerText()));
  const before = await count();
  const chat = await openPage(A);
  await finished(await send(chat, "One more story"));
  await closePage(chat);
  await page_wait(async () => (await count()) > before);
  await assert.doesNotReject(dash.locator("#audit-status[data-ok='true']").waitFor());
  assert.deepEqual(await unlabelled(dash), []);
  for (const id of ["chart-rps", "chart-tps", "chart-ttft", "chart-tpot", "chart-queue", "chart-kv", "chart-prefix"]) {
    assert.ok(await dash.locator(`#${id} svg`).count() > 0, `chart ${id} missing`);
  }
  // Some load over a few scrapes, so that the charts (and the screenshot) have lines to draw.
  for (let round = 0; round < 4; round++) {
    await Promise.all([16, 64, 128, 256].map((n) => fetch(`${A}/v1/chat/completions`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "stories", max_tokens: n * (round + 1),
                             messages: [{ role: "user", content: `Story ${round} ${n}` }] }),
    }).then((r) => r.text())));
    await dash.waitForTimeout(2100);
  }
  if (shots) await dash.screenshot({ path: `${shots}/web-dashboard.png`, fullPage: true });
  await closePage(dash);
});

test("oversight: pause from the dashboard shows the paused message in the chat, resume restores", async () => {
  const dash = await openPage(`${A}/dashboard`);
  await dash.locator("#pause-reason").fill("safety review");
  await dash.locator("#pause").click();
  await dash.locator("#pause-state[data-paused='true']").waitFor();
  assert.match(await dash.locator("#pause-state").innerText(), /safety review/);
  const chat = await openPage(A);
  await chat.locator("#prompt").fill("Are you there?");
  await chat.locator("#send").click();
  const notice = chat.locator("#notice[data-kind='paused']");
  await notice.waitFor();
  assert.ok(await notice.isVisible());
  assert.match(await notice.innerText(), /safety review/);
  await dash.locator("#resume").click();
  await dash.locator("#pause-state[data-paused='false']").waitFor();
  const reply = await send(chat, "Now?");
  assert.ok(["stop", "length"].includes(await finished(reply)));
  assert.ok(!(await chat.locator("#notice").isVisible()), "the paused notice stayed");
  await closePage(chat);
  await closePage(dash);
});

test("Korean interface: chosen from the browser's language and by the switch", async () => {
  const info = (await json(`${A}/v1/provenance`)).body;
  const page = await openPage(A, { lang: "ko-KR" });
  assert.equal(await page.evaluate(() => document.documentElement.lang), "ko");
  assert.match(await page.locator("#send").innerText(), /[\uac00-\ud7a3]/);
  const reply = await send(page, "Once upon a time");
  await finished(reply);
  assert.equal((await reply.locator(".ai-label").innerText()).trim(), info.label.ko);
  if (shots) await page.screenshot({ path: `${shots}/web-chat-ko.png` });
  await page.locator("#lang").selectOption("en");
  assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
  assert.equal((await page.locator("#send").innerText()).trim(), "Send");
  await closePage(page);
  const dash = await openPage(`${A}/dashboard`, { lang: "ko-KR" });
  assert.match(await dash.locator("#pause").innerText(), /[\uac00-\ud7a3]/);
  await closePage(dash);
});

test("HTTPS with keys required: the page asks for the key, then chats and verifies", async () => {
  const page = await openPage(B, { https: true });
  await page.locator("#prompt").fill("Once upon a time");
  await page.locator("#send").click();
  await page.locator("#key-panel").waitFor({ state: "visible" });
  await page.locator("#api-key").fill(process.env.DARI_USER_KEY);
  await page.locator("#save-key").click();
  const reply = page.locator('article.msg[data-role="assistant"]').last();
  assert.ok(["stop", "length"].includes(await finished(reply)));
  assert.equal((await verify(reply)).state, "pass");
  await closePage(page);
  // The dashboard needs an admin key: an infer key is refused, the admin key is accepted.
  const dash = await openPage(`${B}/dashboard`, { https: true });
  await dash.locator("#key-panel").waitFor({ state: "visible" });
  await dash.locator("#api-key").fill(process.env.DARI_ADMIN_KEY);
  await dash.locator("#save-key").click();
  await dash.locator("#audit-status[data-ok='true']").waitFor();
  await page_wait(async () => /\d/.test(await dash.locator("#requests-total").innerText()));
  assert.ok(!(await dash.locator("#key-panel").isVisible()));
  // Usage per key: the three keys of this server, the user's with the request it just made.
  await page_wait(async () => (await dash.locator("#keys tbody tr").count()) === 3);
  const keys = await dash.locator("#keys").innerText();
  for (const name of ["web-user", "web-admin", "web-limited"]) assert.match(keys, new RegExp(name));
  await closePage(dash);
});

test("quota: a key past its request budget gets a clear message, not a broken reply", async () => {
  const page = await openPage(B, { https: true });
  await page.evaluate((k) => localStorage.setItem("dari.apiKey", k), process.env.DARI_LIMITED_KEY);
  await page.reload();
  const first = await send(page, "Once upon a time");
  assert.ok(["stop", "length"].includes(await finished(first)));
  await page.locator("#prompt").fill("And then?");
  await page.locator("#send").click();
  const notice = page.locator("#notice[data-kind='quota']");
  await notice.waitFor();
  assert.match(await notice.innerText(), /requests per minute/);
  assert.equal(await page.locator('article.msg[data-role="assistant"]').count(), 1);
  await closePage(page);
});

test("markdown: HTML stays text, code and links render, hostile replies stay linear", async () => {
  const page = await openPage(A);
  const r = await page.evaluate(async () => {
    const { renderMarkdown } = await import("/web/markdown.js");
    const box = (text) => {
      const div = document.createElement("div");
      div.append(renderMarkdown(text));
      return div;
    };
    const html = box('<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script>');
    const code = box("Look:\n\n```js\nlet a = 1 < 2;\n```\n\n**bold** and `tick`");
    const links = box("[ok](https://example.com/a) [bad](javascript:alert(1)) [data](data:text/html,x)");
    // Inputs that made a naive regex renderer take seconds to minutes, or overflow the stack.
    const hostile = ["*a ".repeat(40000), "`".repeat(3000) + "a", "[a](".repeat(30000),
                     "- ".repeat(30000) + "x", "> ".repeat(30000) + "x", "_a ".repeat(40000)];
    const ms = hostile.map((t) => { const t0 = performance.now(); box(t); return performance.now() - t0; });
    return {
      htmlTags: html.querySelectorAll("img, script").length, htmlText: html.textContent,
      pwned: window.pwned ?? null,
      codeLang: code.querySelector("pre code")?.className, codeText: code.querySelector("pre code")?.textContent,
      strong: code.querySelector("strong")?.textContent, tick: code.querySelector("p code")?.textContent,
      anchors: [...links.querySelectorAll("a")].map((a) => [a.getAttribute("href"), a.rel]),
      ms,
    };
  });
  assert.equal(r.htmlTags, 0);
  assert.match(r.htmlText, /<img src=x/);
  assert.equal(r.pwned, null);
  assert.match(r.codeLang, /language-js/);
  assert.equal(r.codeText.trim(), "let a = 1 < 2;");
  assert.equal(r.strong, "bold");
  assert.equal(r.tick, "tick");
  assert.equal(r.anchors.length, 1);
  assert.equal(r.anchors[0][0], "https://example.com/a");
  assert.match(r.anchors[0][1], /noopener/);
  assert.match(r.anchors[0][1], /noreferrer/);
  // A guard against super-linear parsing (these took over 10 s each before), not a speed target.
  for (const t of r.ms) assert.ok(t < 5000, `a hostile reply took ${t} ms to render`);
  await closePage(page);
});

test("prometheus: the dashboard's parser and quantiles", async () => {
  const page = await openPage(`${A}/dashboard`);
  const r = await page.evaluate(async () => {
    const p = await import("/web/prometheus.js");
    const scrape = (b1, b2, inf, reqs) => p.parsePrometheus([
      "# HELP h Time", "# TYPE h histogram",
      `h_bucket{le="0.1"} ${b1}`, `h_bucket{le="0.2"} ${b2}`, `h_bucket{le="+Inf"} ${inf}`,
      `dari_http_requests_total{endpoint="/v1/chat/completions",status="200"} ${reqs}`,
      `dari_http_requests_total{endpoint="/v1/chat/completions",status="503"} 2`,
      `dari_http_requests_total{endpoint="web",status="200"} 40`,
      "not a valid line {", ""].join("\n"));
    const a = scrape(10, 10, 10, 5), b = scrape(10, 30, 30, 9);
    return {
      total: p.sum(b, "dari_http_requests_total", { endpoint: "/v1/chat/completions" }),
      // The 20 new observations all fell in (0.1, 0.2]: the median is at the middle.
      p50: p.histogramQuantile(0.5, a, b, "h"),
      none: p.histogramQuantile(0.5, b, b, "h"),
      rate: p.rate(5, 9, 2),
      reset: p.rate(9, 1, 2),
    };
  });
  assert.equal(r.total, 11);
  assert.ok(Math.abs(r.p50 - 0.15) < 1e-9, `p50 ${r.p50}`);
  assert.equal(r.none, null);
  assert.equal(r.rate, 2);
  assert.equal(r.reset, null);
  await closePage(page);
});

test("chat: regenerate replaces the last reply; editing a question drops what followed", async () => {
  const page = await openPage(A);
  const first = await send(page, "Once upon a time");
  await finished(first);
  const firstId = await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("dari.chat.v1"));
    return s.conversations.find((c) => c.id === s.current).messages.at(-1).request_id;
  });
  await page.locator("button.regenerate").last().click();
  const assistants = page.locator('article.msg[data-role="assistant"]');
  await page_wait(async () => (await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("dari.chat.v1"));
    return s.conversations.find((c) => c.id === s.current).messages.at(-1).request_id;
  })) !== firstId);
  await finished(assistants.last());
  assert.equal(await assistants.count(), 1, "regenerate added a reply instead of replacing it");
  await finished(await send(page, "Then what?"));
  assert.equal(await assistants.count(), 2);
  // Edit the first question: the second exchange goes, a new reply comes.
  await page.locator('article.msg[data-role="user"]').first().locator("button.edit").click();
  const form = page.locator(".edit-form");
  await form.locator("textarea").fill("A dragon flew");
  await form.locator(".save-edit").click();
  await page_wait(async () => (await page.locator('article.msg[data-role="user"]').count()) === 1);
  await finished(assistants.last());
  assert.equal(await assistants.count(), 1);
  assert.match(await page.locator('article.msg[data-role="user"]').first().innerText(), /A dragon flew/);
  await closePage(page);
});
