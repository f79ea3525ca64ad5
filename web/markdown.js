// markdown.js: a small Markdown renderer for model replies. It builds DOM nodes directly
// (text always goes in through text nodes, never through innerHTML), so model text can never
// become markup. Supported: headings, paragraphs, bold/italic, inline code, fenced code blocks
// (with a language class and a copy button), lists, blockquotes, rules, and http/https links.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)[^`]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const BULLET = /^(\s*)([-*+])\s+(.*)$/;
const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^ {0,3}>\s?(.*)$/;
const URL_START = /^https?:\/\/[^\s<>"'`]+/i;

/** Escapes text for use inside HTML markup (for callers that build strings). */
export function escapeHtml(text) {
  return String(text)
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

/** The URL when it is an absolute http or https address, else null. */
export function safeUrl(href) {
  try {
    const url = new URL(href.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

// ---- inline ---------------------------------------------------------------------------------

function isWordChar(ch) {
  return ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
}

function findCodeSpan(text, i) {
  let run = 0;
  while (text[i + run] === "`") run++;
  const fence = "`".repeat(run);
  let from = i + run;
  for (;;) {
    const end = text.indexOf(fence, from);
    if (end < 0) return null;
    let after = end + run;
    if (text[after] !== "`") {
      let inner = text.slice(i + run, end);
      if (/^ .* $/.test(inner) && inner.trim()) inner = inner.slice(1, -1);
      return { node: codeNode(inner), end: after };
    }
    while (text[after] === "`") after++;
    from = after;
  }
}

function codeNode(content) {
  const code = el("code");
  code.textContent = content;
  return code;
}

function findEmphasis(text, i, opts) {
  const ch = text[i];
  const double = text[i + 1] === ch;
  const marker = double ? ch + ch : ch;
  const start = i + marker.length;
  const first = text[start];
  if (first === undefined || /\s/.test(first)) return null;
  if (ch === "_" && isWordChar(text[i - 1])) return null;
  let from = start;
  for (;;) {
    const end = text.indexOf(marker, from);
    if (end < 0) return null;
    const before = text[end - 1];
    const after = text[end + marker.length];
    const closes = end > start && !/\s/.test(before) &&
      (double || after !== ch) && !(ch === "_" && isWordChar(after));
    if (closes) {
      const node = el(double ? "strong" : "em");
      node.append(...inlineNodes(text.slice(start, end), opts));
      return { node, end: end + marker.length };
    }
    from = end + 1;
  }
}

function findLink(text, i, opts) {
  const close = findBracketEnd(text, i);
  if (close < 0 || text[close + 1] !== "(") return null;
  const end = findParenEnd(text, close + 1);
  if (end < 0) return null;
  const target = text.slice(close + 2, end).trim().split(/\s+/)[0] || "";
  const href = safeUrl(target.replace(/^<|>$/g, ""));
  const label = text.slice(i + 1, close);
  if (!href) {
    // Not an http(s) link: keep the label as plain text and drop the target.
    return { nodes: inlineNodes(label, opts), end: end + 1 };
  }
  const link = linkNode(href);
  link.append(...inlineNodes(label, { ...opts, noLinks: true }));
  return { nodes: [link], end: end + 1 };
}

function findBracketEnd(text, i) {
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    if (text[j] === "\\") j++;
    else if (text[j] === "[") depth++;
    else if (text[j] === "]" && --depth === 0) return j;
  }
  return -1;
}

function findParenEnd(text, open) {
  let depth = 0;
  for (let j = open; j < text.length && text[j] !== "\n"; j++) {
    if (text[j] === "(") depth++;
    else if (text[j] === ")" && --depth === 0) return j;
  }
  return -1;
}

function linkNode(href) {
  const link = el("a");
  link.href = href;
  link.rel = "noopener noreferrer";
  link.target = "_blank";
  return link;
}

function findAutolink(text, i) {
  if (isWordChar(text[i - 1])) return null;
  const match = URL_START.exec(text.slice(i));
  if (!match) return null;
  const raw = match[0].replace(/[.,;:!?)\]}]+$/, "");
  const href = safeUrl(raw);
  if (!href) return null;
  const link = linkNode(href);
  link.textContent = raw;
  return { node: link, end: i + raw.length };
}

function tryInline(text, i, opts) {
  const ch = text[i];
  if (ch === "`") return findCodeSpan(text, i);
  if (ch === "*" || ch === "_") return findEmphasis(text, i, opts);
  if (ch === "[" && !opts.noLinks) return findLink(text, i, opts);
  if ((ch === "h" || ch === "H") && !opts.noLinks) return findAutolink(text, i);
  return null;
}

/** Inline Markdown of one block's text as a list of DOM nodes. */
export function inlineNodes(text, opts = {}) {
  const nodes = [];
  let plain = "";
  const flush = () => {
    if (plain) appendText(nodes, plain, opts);
    plain = "";
  };
  for (let i = 0; i < text.length;) {
    const ch = text[i];
    if (ch === "\\" && /[\\`*_{}[\]()#+\-.!>~|]/.test(text[i + 1] || "")) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    const found = tryInline(text, i, opts);
    if (found) {
      flush();
      nodes.push(...(found.nodes || [found.node]));
      i = found.end;
      continue;
    }
    plain += ch;
    i++;
  }
  flush();
  return nodes;
}

// Single newlines inside a paragraph become <br>, as chat replies expect.
function appendText(nodes, text, opts) {
  const lines = text.split("\n");
  lines.forEach((line, k) => {
    if (k > 0 && !opts.noBreaks) nodes.push(el("br"));
    else if (k > 0) nodes.push(document.createTextNode(" "));
    if (line) nodes.push(document.createTextNode(line));
  });
}

// ---- blocks ---------------------------------------------------------------------------------

function codeBlock(lines, language, labels) {
  const wrap = el("div", "code-block");
  const bar = el("div", "code-toolbar");
  const name = el("span", "code-lang");
  name.textContent = language || labels.codeLabel || "code";
  const copy = el("button", "copy-code");
  copy.type = "button";
  copy.textContent = labels.copy || "Copy";
  copy.setAttribute("aria-label", labels.copyLabel || labels.copy || "Copy code");
  bar.append(name, copy);
  const pre = el("pre");
  const code = el("code");
  const safeLang = (language || "").replace(/[^\w+#.-]/g, "");
  if (safeLang) code.className = `language-${safeLang}`;
  code.textContent = lines.join("\n");
  pre.append(code);
  wrap.append(bar, pre);
  return wrap;
}

function readFence(lines, i) {
  const open = FENCE.exec(lines[i]);
  const marker = open[1];
  const body = [];
  let j = i + 1;
  for (; j < lines.length; j++) {
    const trimmed = lines[j].trim();
    if (trimmed.startsWith(marker[0].repeat(marker.length)) &&
        /^(`+|~+)$/.test(trimmed) && trimmed[0] === marker[0]) {
      return { language: open[2], body, next: j + 1 };
    }
    body.push(lines[j]);
  }
  return { language: open[2], body, next: j };
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

function readList(lines, i, labels) {
  const first = listMatch(lines[i]);
  const list = el(first.ordered ? "ol" : "ul");
  if (first.ordered && first.start !== 1) list.start = first.start;
  let j = i;
  while (j < lines.length) {
    const item = listMatch(lines[j]);
    if (!item || item.ordered !== first.ordered || item.indent < first.indent) break;
    if (item.indent > first.indent + 1) break;
    const body = [item.text];
    j++;
    while (j < lines.length) {
      const line = lines[j];
      if (!line.trim()) {
        const nextLine = lines[j + 1];
        if (nextLine !== undefined && nextLine.trim() && indentOf(nextLine) > first.indent) {
          body.push("");
          j++;
          continue;
        }
        break;
      }
      if (indentOf(line) <= first.indent && listMatch(line)) break;
      if (indentOf(line) <= first.indent && isBlockStart(line)) break;
      body.push(line.slice(Math.min(indentOf(line), first.indent + 2)));
      j++;
    }
    const li = el("li");
    li.append(...blockNodes(body, labels, { tight: true }));
    list.append(li);
    while (j < lines.length && !lines[j].trim() && listMatch(lines[j + 1] || "")) j++;
  }
  return { node: list, next: j };
}

function readQuote(lines, i, labels) {
  const inner = [];
  let j = i;
  while (j < lines.length && QUOTE.test(lines[j])) {
    inner.push(QUOTE.exec(lines[j])[1]);
    j++;
  }
  const quote = el("blockquote");
  quote.append(...blockNodes(inner, labels));
  return { node: quote, next: j };
}

function isBlockStart(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    listMatch(line) !== null;
}

function readParagraph(lines, i) {
  const body = [];
  let j = i;
  while (j < lines.length && lines[j].trim() && (j === i || !isBlockStart(lines[j]))) {
    body.push(lines[j].trim());
    j++;
  }
  const p = el("p");
  p.append(...inlineNodes(body.join("\n")));
  return { node: p, next: j };
}

function heading(match) {
  const node = el(`h${match[1].length}`);
  node.append(...inlineNodes(match[2] || ""));
  return node;
}

function readBlock(lines, i, labels) {
  const line = lines[i];
  if (FENCE.test(line)) {
    const fence = readFence(lines, i);
    return { node: codeBlock(fence.body, fence.language, labels), next: fence.next };
  }
  const head = HEADING.exec(line);
  if (head) return { node: heading(head), next: i + 1 };
  if (RULE.test(line)) return { node: el("hr"), next: i + 1 };
  if (QUOTE.test(line)) return readQuote(lines, i, labels);
  if (listMatch(line)) return readList(lines, i, labels);
  return readParagraph(lines, i);
}

function blockNodes(lines, labels, { tight = false } = {}) {
  const nodes = [];
  let paragraphs = 0;
  for (let i = 0; i < lines.length;) {
    if (!lines[i].trim()) {
      i++;
      continue;
    }
    const block = readBlock(lines, i, labels);
    if (block.node.tagName === "P") paragraphs++;
    nodes.push(block.node);
    i = Math.max(block.next, i + 1);
  }
  // A list item holding one short paragraph shows its text without the <p> margin.
  if (tight && paragraphs === 1 && nodes[0] && nodes[0].tagName === "P") {
    nodes.splice(0, 1, ...nodes[0].childNodes);
  }
  return nodes;
}

/**
 * Renders Markdown text into a DocumentFragment. labels: {copy, copyLabel, codeLabel} for the
 * code blocks' copy buttons (the page passes translated strings).
 */
export function renderMarkdown(text, labels = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  fragment.append(...blockNodes(lines, labels));
  return fragment;
}
