// Small SVG charts for the dashboard, drawn from plain arrays with no library: a time-series line
// chart (one or two series over the last few minutes) and a stacked bar chart (feedback per hour).
// Colours come from CSS classes (series-0, series-1, ...) so both themes apply; no style strings.

const SVG_NS = "http://www.w3.org/2000/svg";
const PLOT_HEIGHT = 160;
const CHAR_WIDTH = 6.6; // about one character of the 11px tick font
const MINUTE = 60 * 1000;

// Creates an SVG element with attributes and appends it to a parent when one is given.
export function svg(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, val] of Object.entries(attrs)) el.setAttribute(key, String(val));
  if (parent) parent.appendChild(el);
  return el;
}

// A "nice" step (1, 2, 2.5 or 5 times a power of ten) at least as large as raw.
export function niceStep(raw, integer = false) {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const choices = integer && power >= 1 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  const step = choices.find((c) => c * power >= raw * (1 - 1e-9)) * power;
  return integer ? Math.max(1, Math.round(step)) : step;
}

// Y scale from 0 to a round top with 3 or 4 ticks (0 included).
export function niceScale(max, { fixedMax = null, integer = false, minTop = 0 } = {}) {
  const top0 = fixedMax ?? Math.max(max || 0, minTop);
  const step = niceStep((top0 || 1) / 3, integer);
  const steps = fixedMax ? Math.round(fixedMax / step) : Math.max(2, Math.ceil(top0 / step - 1e-9));
  const top = fixedMax ?? step * steps;
  const ticks = [];
  for (let i = 0; i <= steps; i += 1) ticks.push(Math.min(top, i * step));
  return { top, ticks };
}

// The last non-null value of a list of points ({t, values}) for one series.
export function latest(points, series) {
  for (let i = points.length - 1; i >= 0; i -= 1) {
    const v = points[i].values[series];
    if (v !== null && v !== undefined && Number.isFinite(v)) return v;
  }
  return null;
}

// Splits the points of one series into runs of consecutive non-null values.
function runs(points, series) {
  const out = [];
  let run = [];
  for (const p of points) {
    const v = p.values[series];
    if (v === null || v === undefined || !Number.isFinite(v)) {
      if (run.length) out.push(run);
      run = [];
    } else {
      run.push({ t: p.t, v });
    }
  }
  if (run.length) out.push(run);
  return out;
}

// Builds the legend (<ul>) of a chart: a swatch, a label and the latest value per entry.
function buildLegend(count, withExtra) {
  const ul = document.createElement("ul");
  ul.className = "chart-legend";
  const items = [];
  for (let i = 0; i < count + (withExtra ? 1 : 0); i += 1) {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = i < count ? `swatch series-${i}` : "swatch swatch-none";
    swatch.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.className = "legend-label";
    const value = document.createElement("strong");
    value.className = "legend-value";
    li.append(swatch, label, value);
    ul.appendChild(li);
    items.push({ label, value });
  }
  return { ul, items };
}

// The horizontal span [from, to] a tick label is expected to take.
function textExtent(x, words, anchor) {
  const w = textWidth(words);
  if (anchor === "end") return [x - w, x];
  if (anchor === "start") return [x, x + w];
  return [x - w / 2, x + w / 2];
}

// An estimate of a tick label's width: wide (CJK) characters count about double.
function textWidth(words) {
  let units = 0;
  for (const ch of words) units += ch.codePointAt(0) > 0x2e80 ? 1.8 : 1;
  return units * CHAR_WIDTH;
}

// Keeps an SVG as wide as its holder and calls redraw whenever that width changes.
function watchWidth(holder, redraw) {
  let width = 0;
  const measure = () => {
    const w = Math.floor(holder.clientWidth);
    if (w > 0 && w !== width) {
      width = w;
      redraw();
    }
  };
  if (typeof ResizeObserver === "function") new ResizeObserver(measure).observe(holder);
  return () => width || Math.floor(holder.clientWidth) || 320;
}

// Draws the horizontal grid and the y tick labels; returns the left margin used.
function drawYAxis(group, scale, format, width, height, top) {
  const labels = scale.ticks.map((v) => format(v));
  const left = Math.ceil(Math.max(...labels.map(textWidth))) + 10;
  scale.ticks.forEach((v, i) => {
    const y = top + height - (v / scale.top) * height;
    svg("line", { class: "grid", x1: left, x2: width - 6, y1: y, y2: y }, group);
    const text = svg("text", { class: "tick", x: left - 6, y: y + 4, "text-anchor": "end" }, group);
    text.textContent = labels[i];
  });
  return left;
}

// A time-series line chart inside a <figure>. Options:
//   title(): the chart's name (for the aria-label); series: [{label()}];
//   format(v): a value with its unit; scale: {fixedMax, integer, minTop};
//   extra(): {label, value} shown after the series in the legend (or null);
//   text: {now(), minutesAgo(n), noData()}; windowMs (default 5 minutes).
// Empties `svg` and sizes it `width` x PLOT_HEIGHT; returns the plot area's top margin and
// height (the rest below is for the time axis labels).
function clearPlot(svg, width) {
  const top = 8;
  svg.replaceChildren();
  svg.setAttribute("width", width);
  svg.setAttribute("height", PLOT_HEIGHT);
  svg.setAttribute("viewBox", `0 0 ${width} ${PLOT_HEIGHT}`);
  return { top, height: PLOT_HEIGHT - top - 22 };
}

export class LineChart {
  constructor(figure, options) {
    this.figure = figure;
    this.options = { windowMs: 5 * MINUTE, scale: {}, extra: null, ...options };
    this.points = [];
    this.now = Date.now();
    const legend = buildLegend(options.series.length, Boolean(options.extra));
    this.legend = legend.items;
    this.holder = document.createElement("div");
    this.holder.className = "chart-plot";
    this.svg = svg("svg", { role: "img", class: "chart-svg", focusable: "false" }, this.holder);
    figure.append(legend.ul, this.holder);
    this.width = watchWidth(this.holder, () => this.render());
  }

  // Replaces the data: points are [{t: ms, values: [number|null, ...]}] oldest first.
  update(points, now = Date.now()) {
    this.points = points.filter((p) => p.t >= now - this.options.windowMs && p.t <= now);
    this.now = now;
    this.render();
  }

  // Redraws everything from the stored points (also used after a language change).
  render() {
    this.renderLegend();
    this.renderPlot();
    this.svg.setAttribute("aria-label", this.describe());
  }

  valueText(v) {
    return v === null ? "—" : this.options.format(v);
  }

  renderLegend() {
    const { series, extra } = this.options;
    series.forEach((s, i) => {
      this.legend[i].label.textContent = s.label();
      this.legend[i].value.textContent = this.valueText(latest(this.points, i));
    });
    if (extra) {
      const e = extra();
      this.legend[series.length].label.textContent = e.label;
      this.legend[series.length].value.textContent = e.value;
    }
  }

  // The accessible summary: the chart's name and each latest value.
  describe() {
    const { series, extra, title, text } = this.options;
    const parts = series.map((s, i) => `${s.label()} ${this.valueText(latest(this.points, i))}`);
    if (extra) parts.push(`${extra().label} ${extra().value}`);
    const hasData = series.some((_, i) => latest(this.points, i) !== null);
    return `${title()}: ${hasData || extra ? parts.join(", ") : text.noData()}`;
  }

  renderPlot() {
    const width = this.width();
    const { top, height } = clearPlot(this.svg, width);
    const max = Math.max(0, ...this.points.flatMap((p) => p.values.filter(Number.isFinite)));
    const scale = niceScale(max, this.options.scale);
    const axis = svg("g", { class: "axis", "aria-hidden": "true" }, this.svg);
    const left = drawYAxis(axis, scale, this.options.format, width, height, top);
    const frame = { left, right: width - 6, top, height, scale };
    this.drawTimeAxis(axis, frame);
    this.options.series.forEach((_, i) => this.drawSeries(i, frame));
  }

  // Vertical lines once a minute, labelled "now", "-1 min", ... from the right; a label that
  // would touch the one to its right is left out.
  drawTimeAxis(group, frame) {
    const { windowMs, text } = this.options;
    const minutes = Math.round(windowMs / MINUTE);
    let freeUntil = Infinity; // labels must end left of this x
    for (let m = 0; m <= minutes; m += 1) {
      const x = this.x(this.now - m * MINUTE, frame);
      svg("line", { class: "grid grid-x", x1: x, x2: x, y1: frame.top, y2: frame.top + frame.height }, group);
      const words = m === 0 ? text.now() : text.minutesAgo(m);
      const anchor = m === 0 ? "end" : m === minutes ? "start" : "middle";
      const [from, to] = textExtent(x, words, anchor);
      if (to > freeUntil - 6) continue;
      freeUntil = from;
      const label = svg("text", { class: "tick", x, y: frame.top + frame.height + 16, "text-anchor": anchor }, group);
      label.textContent = words;
    }
  }

  x(t, frame) {
    const start = this.now - this.options.windowMs;
    return frame.left + ((t - start) / this.options.windowMs) * (frame.right - frame.left);
  }

  y(v, frame) {
    const clamped = Math.min(Math.max(v, 0), frame.scale.top);
    return frame.top + frame.height - (clamped / frame.scale.top) * frame.height;
  }

  // One series: a path per run of values, a dot for lone values and for the newest value.
  drawSeries(i, frame) {
    const group = svg("g", { class: `series series-${i}` }, this.svg);
    const parts = runs(this.points, i);
    for (const run of parts) {
      const d = run.map((p, k) => `${k ? "L" : "M"}${this.x(p.t, frame).toFixed(1)},${this.y(p.v, frame).toFixed(1)}`);
      svg("path", { class: "line", d: d.join(" "), fill: "none" }, group);
      if (run.length === 1) this.dot(group, run[0], frame);
    }
    const last = parts.length ? parts[parts.length - 1] : null;
    if (last && last.length > 1) this.dot(group, last[last.length - 1], frame);
  }

  dot(group, p, frame) {
    svg("circle", { class: "dot", cx: this.x(p.t, frame).toFixed(1), cy: this.y(p.v, frame).toFixed(1), r: 3 }, group);
  }
}

// A stacked bar chart of counts per bin, drawn into an existing <svg> (role="img"). Options:
//   series: one entry per stacked series (the legend is in the page); binLabel(i, count): the x
//   label of bin i or null; describe(totals): the svg's aria-label from the totals per series.
export class BarChart {
  constructor(svgElement, options) {
    this.svg = svgElement;
    this.options = options;
    this.bins = [];
    this.holder = svgElement.parentElement;
    this.width = watchWidth(this.holder, () => this.render());
  }

  // bins: [[count of series 0, count of series 1, ...], ...] oldest first.
  update(bins) {
    this.bins = bins;
    this.render();
  }

  render() {
    const width = this.width();
    const { top, height } = clearPlot(this.svg, width);
    const totals = this.options.series.map((_, s) => this.bins.reduce((a, b) => a + (b[s] || 0), 0));
    this.svg.setAttribute("aria-label", this.options.describe(totals));
    const max = Math.max(0, ...this.bins.map((b) => b.reduce((a, v) => a + v, 0)));
    const scale = niceScale(max, { integer: true, minTop: 2 });
    const axis = svg("g", { class: "axis", "aria-hidden": "true" }, this.svg);
    const left = drawYAxis(axis, scale, (v) => String(v), width, height, top);
    this.drawBars({ left, right: width - 6, top, height, scale }, axis);
  }

  drawBars(frame, axis) {
    const n = Math.max(1, this.bins.length);
    const slot = (frame.right - frame.left) / n;
    const barWidth = Math.max(1, slot * 0.7);
    const groups = this.options.series.map((_, s) => svg("g", { class: `series series-${s}` }, this.svg));
    this.bins.forEach((bin, i) => {
      const x = frame.left + i * slot + (slot - barWidth) / 2;
      let base = 0;
      bin.forEach((count, s) => {
        if (!count) return;
        const y0 = frame.top + frame.height - (base / frame.scale.top) * frame.height;
        const y1 = frame.top + frame.height - ((base + count) / frame.scale.top) * frame.height;
        svg("rect", { class: "bar", x: x.toFixed(1), y: y1.toFixed(1), width: barWidth.toFixed(1), height: Math.max(1, y0 - y1).toFixed(1) }, groups[s]);
        base += count;
      });
      const label = this.options.binLabel(i, n);
      if (label === null) return;
      const anchor = i === 0 ? "start" : i === n - 1 ? "end" : "middle";
      const lx = anchor === "start" ? frame.left + i * slot : anchor === "end" ? frame.left + (i + 1) * slot : x + barWidth / 2;
      const text = svg("text", { class: "tick", x: lx, y: frame.top + frame.height + 16, "text-anchor": anchor }, axis);
      text.textContent = label;
    });
  }
}
