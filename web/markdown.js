// markdown.js: a small Markdown renderer for model replies. It builds DOM nodes directly
// (text always goes in through text nodes, never through innerHTML), so model text can never
// become markup. Supported: headings, paragraphs, bold/italic, inline code, fenced code blocks
// (with a language class and a copy button), lists, blockquotes, rules, and http/https links.

import { el } from "./common.js";

// The line patterns are anchored, and where two repeated parts could match the same characters
// the last one is `.*` with the s flag: it takes the rest of the line, so it cannot fail and make
// the others backtrack (without the s flag, "." stops at U+2028 and a long line goes quadratic).
const FENCE = /^ {0,3}(?:(`{3,})([^`]*)|(~{3,})(.*))$/s;
const HEADING = /^ {0,3}(#{1,6})(?=\s|$)/;
const BULLET = /^(\s*)([-*+])\s+(.*)$/s;
const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/s;
const QUOTE = /^ {0,3}>\s?(.*)$/s;
const URL_AT = /https?:\/\/[^\s<>"'`]+/iy;
const ESCAPABLE = /[\\`*_{}[\]()#+\-.!>~|]/;
const TRAILING_PUNCTUATION = ".,;:!?)]}";
// Nesting deeper than this (emphasis in links in emphasis..., lists in quotes in lists...) is
// shown as plain text: it bounds the recursion and so the work on pathological input.
const MAX_INLINE_DEPTH = 8;
const MAX_BLOCK_DEPTH = 12;

/** The URL when it is an absolute http or https address, else null. */
export function safeUrl(href) {
  try {
    const url = new URL(href.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// Appends nodes one by one (a spread of a very long list could exceed the argument limit).
function appendAll(parent, nodes) {
  for (const node of nodes) parent.append(node);
  return parent;
}

// ---- inline ---------------------------------------------------------------------------------
//
// The scanner walks the text once. Each construct either consumes what it matched or fails;
// failures that would repeat are remembered in the context (an emphasis marker with no closer
// left, a backtick run length with no closing run), and brackets and parentheses are matched once
// for the whole text, so the work stays linear in the length of the text times the nesting depth.

function isWordChar(ch) {
  return ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
}

function isSpace(ch) {
  return ch !== undefined && /\s/.test(ch);
}

function newContext(text, opts) {
  return {
    text, opts, depth: opts.depth || 0,
    noCloser: new Set(),    // emphasis markers with no valid closer after the current position
    noTickRun: new Set(),   // backtick run lengths with no closing run after the current position
    brackets: null,         // index of "[" -> index of its "]" (computed on first use)
    parens: null,           // index of "(" -> index of its ")" on the same line
  };
}

function runLength(text, i, ch) {
  let n = 0;
  while (text[i + n] === ch) n++;
  return n;
}

// The index of the next run of exactly `length` backticks at or after `from`, or -1.
function closingTicks(text, from, length) {
  const fence = "`".repeat(length);
  for (;;) {
    const at = text.indexOf(fence, from);
    if (at < 0) return -1;
    const run = runLength(text, at, "`");
    if (run === length) return at;
    from = at + run;
  }
}

function findCodeSpan(ctx, i) {
  const { text } = ctx;
  const run = runLength(text, i, "`");
  const end = ctx.noTickRun.has(run) ? -1 : closingTicks(text, i + run, run);
  if (end < 0) {
    // An unmatched run is literal text, all of it (not run by run, shortened by one each time).
    ctx.noTickRun.add(run);
    return { text: "`".repeat(run), end: i + run };
  }
  let inner = text.slice(i + run, end).replaceAll("\n", " ");
  if (inner.length > 2 && inner[0] === " " && inner.at(-1) === " " && inner.trim()) {
    inner = inner.slice(1, -1);
  }
  return { node: el("code", "", inner), end: end + run };
}

// The start of the first valid closing `marker` after `start`, or -1. Whether a position closes
// depends only on its own neighbours, so once none is left for a marker, none will be later.
function findCloser(ctx, marker, start) {
  if (ctx.noCloser.has(marker)) return -1;
  const { text } = ctx;
  const ch = marker[0];
  const double = marker.length === 2;
  for (let from = start + 1; ;) {
    const end = text.indexOf(marker, from);
    if (end < 0) {
      ctx.noCloser.add(marker);
      return -1;
    }
    const after = text[end + marker.length];
    const closes = !isSpace(text[end - 1]) && (double || after !== ch) &&
      !(ch === "_" && isWordChar(after));
    if (closes) return end;
    from = end + 1;
  }
}

function findEmphasis(ctx, i) {
  const { text } = ctx;
  const ch = text[i];
  const double = text[i + 1] === ch;
  const marker = double ? ch + ch : ch;
  const start = i + marker.length;
  if (text[start] === undefined || isSpace(text[start])) return null;
  if (ch === "_" && isWordChar(text[i - 1])) return null;
  let end = findCloser(ctx, marker, start);
  if (end < 0) return null;
  // "***a***": the outer marker closes on the last two of the closing run, so that the inner
  // text keeps its own "*...*".
  if (double && text[start] === ch) end += runLength(text, end, ch) - 2;
  const node = el(double ? "strong" : "em");
  appendAll(node, nested(ctx, text.slice(start, end)));
  return { node, end: end + marker.length };
}

function nested(ctx, text, extra = {}) {
  return inlineNodes(text, { ...ctx.opts, ...extra, depth: ctx.depth + 1 });
}

// Matches every "[" with its "]" (backslash escapes skip a character) in one pass.
function matchBrackets(text) {
  const match = new Map();
  const open = [];
  for (let j = 0; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === "[") open.push(j);
    else if (text[j] === "]" && open.length) match.set(open.pop(), j);
  }
  return match;
}

// Matches every "(" with its ")" on the same line in one pass.
function matchParens(text) {
  const match = new Map();
  let open = [];
  for (let j = 0; j < text.length; j++) {
    if (text[j] === "\n") open = [];
    else if (text[j] === "(") open.push(j);
    else if (text[j] === ")" && open.length) match.set(open.pop(), j);
  }
  return match;
}

function findLink(ctx, i) {
  const { text } = ctx;
  ctx.brackets ??= matchBrackets(text);
  const close = ctx.brackets.get(i) ?? -1;
  if (close < 0 || text[close + 1] !== "(") return null;
  ctx.parens ??= matchParens(text);
  const end = ctx.parens.get(close + 1) ?? -1;
  if (end < 0) return null;
  const target = text.slice(close + 2, end).trim().split(/\s+/)[0] || "";
  const href = safeUrl(target.replace(/^<|>$/g, ""));
  const label = text.slice(i + 1, close);
  if (!href) {
    // Not an http(s) link: keep the label as plain text and drop the target.
    return { nodes: nested(ctx, label), end: end + 1 };
  }
  const link = linkNode(href);
  appendAll(link, nested(ctx, label, { noLinks: true }));
  return { nodes: [link], end: end + 1 };
}

function linkNode(href) {
  const link = el("a");
  link.href = href;
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  return link;
}

function findAutolink(ctx, i) {
  const { text } = ctx;
  if (isWordChar(text[i - 1])) return null;
  URL_AT.lastIndex = i;
  const match = URL_AT.exec(text);
  if (!match) return null;
  let length = match[0].length;
  while (length > 0 && TRAILING_PUNCTUATION.includes(match[0][length - 1])) length--;
  const raw = match[0].slice(0, length);
  const href = safeUrl(raw);
  // Something that looks like an address but is not one stays text, all of it: scanning it
  // again from each later "h" would make long junk quadratic.
  if (!href) return { text: raw, end: i + raw.length };
  const link = linkNode(href);
  link.textContent = raw;
  return { node: link, end: i + raw.length };
}

function tryInline(ctx, i) {
  const ch = ctx.text[i];
  const { noLinks } = ctx.opts;
  const deep = ctx.depth >= MAX_INLINE_DEPTH;
  if (ch === "`") return findCodeSpan(ctx, i);
  if ((ch === "*" || ch === "_") && !deep) return findEmphasis(ctx, i);
  if (ch === "[" && !noLinks && !deep) return findLink(ctx, i);
  if ((ch === "h" || ch === "H") && !noLinks) return findAutolink(ctx, i);
  return null;
}

/** Inline Markdown of one block's text as a list of DOM nodes. */
export function inlineNodes(text, opts = {}) {
  const ctx = newContext(text, opts);
  const nodes = [];
  let plain = "";
  const flush = () => {
    if (plain) appendText(nodes, plain);
    plain = "";
  };
  for (let i = 0; i < text.length;) {
    const ch = text[i];
    if (ch === "\\" && ESCAPABLE.test(text[i + 1] || "")) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    const found = tryInline(ctx, i);
    if (!found) {
      plain += ch;
      i++;
    } else if (found.text !== undefined) {
      plain += found.text;
      i = found.end;
    } else {
      flush();
      for (const node of found.nodes || [found.node]) nodes.push(node);
      i = found.end;
    }
  }
  flush();
  return nodes;
}

// Single newlines inside a paragraph become <br>, as chat replies expect.
function appendText(nodes, text) {
  const lines = text.split("\n");
  lines.forEach((line, k) => {
    if (k > 0) nodes.push(el("br"));
    if (line) nodes.push(document.createTextNode(line));
  });
}

// ---- blocks ---------------------------------------------------------------------------------
//
// `depth` counts the quotes and lists around a block; past MAX_BLOCK_DEPTH a line that would open
// one more is read as a paragraph.

function codeBlock(lines, language, labels) {
  const wrap = el("div", "code-block");
  const bar = el("div", "code-toolbar");
  const name = el("span", "code-lang", language || labels.codeLabel || "code");
  const copy = el("button", "copy-code", labels.copy || "Copy");
  copy.type = "button";
  copy.setAttribute("aria-label", labels.copyLabel || labels.copy || "Copy code");
  bar.append(name, copy);
  const pre = el("pre");
  const code = el("code", "", lines.join("\n"));
  const safeLang = (language || "").replace(/[^\w+#.-]/g, "");
  if (safeLang) code.className = `language-${safeLang}`;
  pre.append(code);
  wrap.append(bar, pre);
  return wrap;
}

// An opening fence: {marker, language}, or null.
function fenceMatch(line) {
  const m = FENCE.exec(line);
  if (!m) return null;
  const marker = m[1] || m[3];
  const info = (m[1] ? m[2] : m[4]).trim();
  return { marker, language: info.split(/\s/)[0] };
}

function readFence(lines, i) {
  const { marker, language } = fenceMatch(lines[i]);
  const body = [];
  let j = i + 1;
  for (; j < lines.length; j++) {
    const trimmed = lines[j].trim();
    // A closing fence: the same character only, at least as many as the opening fence.
    if (trimmed.length >= marker.length && runLength(trimmed, 0, marker[0]) === trimmed.length) {
      return { language, body, next: j + 1 };
    }
    body.push(lines[j]);
  }
  return { language, body, next: j };
}

// An ATX heading: {level, text}, or null. "#" to "######" then a space or the end of the line;
// an optional closing run of "#" (after a space) is dropped.
function headingMatch(line) {
  const m = HEADING.exec(line);
  if (!m) return null;
  let text = line.slice(m[0].length).trim();
  let end = text.length;
  while (end > 0 && text[end - 1] === "#") end--;
  if (end === 0) text = "";
  else if (end < text.length && isSpace(text[end - 1])) text = text.slice(0, end).trimEnd();
  return { level: m[1].length, text };
}

// A thematic break: three or more of the same "-", "*" or "_", with spaces between allowed.
function isRule(line) {
  const m = /^ {0,3}([-*_])/.exec(line);
  if (!m) return false;
  let count = 0;
  for (const ch of line) {
    if (ch === m[1]) count++;
    else if (!isSpace(ch)) return false;
  }
  return count >= 3;
}

function listMatch(line) {
  const bullet = BULLET.exec(line);
  if (bullet) return { ordered: false, indent: bullet[1].length, text: bullet[3] };
  const ordered = ORDERED.exec(line);
  if (ordered) {
    return { ordered: true, indent: ordered[1].length, text: ordered[3], start: +ordered[2] };
  }
  return null;
}

function indentOf(line) {
  return line.length - line.trimStart().length;
}

// The lines of one list item from line j (its marker line) on: {body, next}.
function readListItem(lines, j, item, indent) {
  const body = [item.text];
  j++;
  while (j < lines.length) {
    const line = lines[j];
    if (!line.trim()) {
      // A blank line stays inside the item when the next line is indented under it.
      const nextLine = lines[j + 1];
      if (nextLine !== undefined && nextLine.trim() && indentOf(nextLine) > indent) {
        body.push("");
        j++;
        continue;
      }
      break;
    }
    if (indentOf(line) <= indent && (listMatch(line) || isBlockStart(line))) break;
    body.push(line.slice(Math.min(indentOf(line), indent + 2)));
    j++;
  }
  return { body, next: j };
}

function readList(lines, i, labels, depth) {
  const first = listMatch(lines[i]);
  const list = el(first.ordered ? "ol" : "ul");
  if (first.ordered && first.start !== 1) list.start = first.start;
  let j = i;
  while (j < lines.length) {
    const item = listMatch(lines[j]);
    if (!item || item.ordered !== first.ordered || item.indent < first.indent) break;
    if (item.indent > first.indent + 1) break;
    const read = readListItem(lines, j, item, first.indent);
    j = read.next;
    list.append(appendAll(el("li"), blockNodes(read.body, labels, depth + 1, true)));
    // Blank lines between items keep the list going.
    while (j < lines.length && !lines[j].trim() && listMatch(lines[j + 1] || "")) j++;
  }
  return { node: list, next: j };
}

function readQuote(lines, i, labels, depth) {
  const inner = [];
  let j = i;
  for (let m; j < lines.length && (m = QUOTE.exec(lines[j])); j++) inner.push(m[1]);
  const quote = appendAll(el("blockquote"), blockNodes(inner, labels, depth + 1));
  return { node: quote, next: j };
}

function isBlockStart(line) {
  return fenceMatch(line) !== null || headingMatch(line) !== null || isRule(line) ||
    QUOTE.test(line) || listMatch(line) !== null;
}

function readParagraph(lines, i) {
  const body = [];
  let j = i;
  while (j < lines.length && lines[j].trim() && (j === i || !isBlockStart(lines[j]))) {
    body.push(lines[j].trim());
    j++;
  }
  return { node: appendAll(el("p"), inlineNodes(body.join("\n"))), next: j };
}

function readBlock(lines, i, labels, depth) {
  const line = lines[i];
  if (fenceMatch(line)) {
    const fence = readFence(lines, i);
    return { node: codeBlock(fence.body, fence.language, labels), next: fence.next };
  }
  const head = headingMatch(line);
  if (head) {
    return { node: appendAll(el(`h${head.level}`), inlineNodes(head.text)), next: i + 1 };
  }
  if (isRule(line)) return { node: el("hr"), next: i + 1 };
  if (depth < MAX_BLOCK_DEPTH) {
    if (QUOTE.test(line)) return readQuote(lines, i, labels, depth);
    if (listMatch(line)) return readList(lines, i, labels, depth);
  }
  return readParagraph(lines, i);
}

function blockNodes(lines, labels, depth = 0, tight = false) {
  const nodes = [];
  let paragraphs = 0;
  for (let i = 0; i < lines.length;) {
    if (!lines[i].trim()) {
      i++;
      continue;
    }
    const block = readBlock(lines, i, labels, depth);
    if (block.node.tagName === "P") paragraphs++;
    nodes.push(block.node);
    i = Math.max(block.next, i + 1);
  }
  // A list item holding one short paragraph shows its text without the <p> margin.
  if (tight && paragraphs === 1 && nodes[0] && nodes[0].tagName === "P") {
    return [...nodes[0].childNodes, ...nodes.slice(1)];
  }
  return nodes;
}

/**
 * Renders Markdown text into a DocumentFragment. labels: {copy, copyLabel, codeLabel} for the
 * code blocks' copy buttons (the page passes translated strings).
 */
export function renderMarkdown(text, labels = {}) {
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  return appendAll(document.createDocumentFragment(), blockNodes(lines, labels));
}
