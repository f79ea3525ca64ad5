// Prometheus text exposition format: a parser into {name, labels, value} samples and the small
// pieces of arithmetic the dashboard needs (sums over label filters, histogram quantiles computed
// from the difference between two scrapes, the way Prometheus' histogram_quantile does).

// Parses a number as Prometheus writes it ("+Inf", "-Inf", "NaN" included).
export function parseValue(text) {
  const s = text.trim();
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  return s === "" ? NaN : Number(s);
}

// Reads one escaped label value starting just after its opening quote.
// Returns [value, index just after the closing quote].
function readQuoted(line, start) {
  let out = "";
  let i = start;
  while (i < line.length) {
    const c = line[i];
    if (c === '"') return [out, i + 1];
    if (c === "\\" && i + 1 < line.length) {
      const next = line[i + 1];
      out += next === "n" ? "\n" : next;
      i += 2;
      continue;
    }
    out += c;
    i += 1;
  }
  throw new Error("unterminated label value");
}

// Reads `{a="x",b="y"}` starting at the "{". Returns [labels, index after "}"].
function readLabels(line, start) {
  const labels = {};
  let i = start + 1;
  for (;;) {
    while (line[i] === " " || line[i] === ",") i += 1;
    if (line[i] === "}") return [labels, i + 1];
    const eq = line.indexOf("=", i);
    if (eq < 0) throw new Error("label without a value");
    const key = line.slice(i, eq).trim();
    let q = eq + 1;
    while (line[q] === " ") q += 1;
    if (line[q] !== '"') throw new Error("label value is not quoted");
    const [value, after] = readQuoted(line, q + 1);
    labels[key] = value;
    i = after;
  }
}

// Parses one sample line, or returns null for blank lines and comments.
export function parseLine(rawLine) {
  const line = rawLine.trim();
  if (line === "" || line.startsWith("#")) return null;
  const nameEnd = line.search(/[{\s]/);
  if (nameEnd < 0) throw new Error("sample without a value");
  const name = line.slice(0, nameEnd);
  let labels = {};
  let rest = nameEnd;
  if (line[nameEnd] === "{") [labels, rest] = readLabels(line, nameEnd);
  const fields = line.slice(rest).trim().split(/\s+/);
  const value = parseValue(fields[0]);
  if (Number.isNaN(value) && fields[0] !== "NaN") throw new Error("value is not a number");
  return { name, labels, value };
}

// Parses a whole scrape. Lines that cannot be read are skipped, not fatal.
export function parsePrometheus(text) {
  const samples = [];
  for (const raw of text.split("\n")) {
    try {
      const sample = parseLine(raw);
      if (sample) samples.push(sample);
    } catch {
      // A malformed line loses only itself.
    }
  }
  return samples;
}

// True when a sample's labels satisfy a filter: {label: "value" | ["a", "b"] | (v) => bool}.
export function matches(labels, filter = {}) {
  return Object.entries(filter).every(([key, want]) => {
    const have = labels[key] ?? "";
    if (Array.isArray(want)) return want.includes(have);
    if (typeof want === "function") return want(have);
    return have === String(want);
  });
}

// Samples of one metric whose labels pass the filter.
export function select(samples, name, filter = {}) {
  return samples.filter((s) => s.name === name && matches(s.labels, filter));
}

// Sum of the matching samples, or null when there are none.
export function sum(samples, name, filter = {}) {
  const found = select(samples, name, filter);
  if (found.length === 0) return null;
  return found.reduce((acc, s) => acc + s.value, 0);
}

// The value of the first matching sample (a gauge), or null.
export function value(samples, name, filter = {}) {
  const found = select(samples, name, filter);
  return found.length === 0 ? null : found[0].value;
}

// Cumulative buckets of a histogram, summed over any other labels: [{le, count}] sorted by le.
export function buckets(samples, name, filter = {}) {
  const byLe = new Map();
  for (const s of select(samples, `${name}_bucket`, filter)) {
    if (s.labels.le === undefined) continue;
    const le = parseValue(s.labels.le);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  return [...byLe.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

// New observations per bucket between two scrapes: current minus previous cumulative counts.
// When the counts went down (the server restarted) the current buckets stand alone.
export function bucketDelta(previous, current) {
  if (!previous || previous.length === 0) return current;
  const before = new Map(previous.map((b) => [b.le, b.count]));
  const delta = current.map((b) => ({ le: b.le, count: b.count - (before.get(b.le) ?? 0) }));
  return delta.some((b) => b.count < 0) ? current : delta;
}

// Evens out small decreases in cumulative counts, as Prometheus does before interpolating.
function monotonic(list) {
  let highest = 0;
  return list.map((b) => {
    highest = Math.max(highest, b.count);
    return { le: b.le, count: highest };
  });
}

// The q-quantile (0..1) of cumulative buckets, interpolating linearly inside the bucket where
// the rank falls (the first bucket starts at 0). Returns null when there are no observations or
// no +Inf bucket; a rank in the +Inf bucket gives the highest finite bound.
export function quantileFromBuckets(q, cumulative) {
  if (!(q >= 0 && q <= 1) || cumulative.length < 2) return null;
  const list = monotonic(cumulative);
  const last = list[list.length - 1];
  if (last.le !== Infinity || last.count <= 0) return null;
  const rank = q * last.count;
  const i = list.findIndex((b) => b.count >= rank);
  if (i === list.length - 1) return list[list.length - 2].le;
  if (i === 0 && list[0].le <= 0) return list[0].le;
  const lower = i === 0 ? 0 : list[i - 1].le;
  const below = i === 0 ? 0 : list[i - 1].count;
  const inBucket = list[i].count - below;
  if (inBucket <= 0) return list[i].le;
  return lower + (list[i].le - lower) * ((rank - below) / inBucket);
}

// The q-quantile of the observations a histogram gained between two scrapes (sample arrays),
// or null when it gained none.
export function histogramQuantile(q, previousSamples, currentSamples, name, filter = {}) {
  const now = buckets(currentSamples, name, filter);
  if (now.length === 0) return null;
  const before = previousSamples ? buckets(previousSamples, name, filter) : [];
  return quantileFromBuckets(q, bucketDelta(before, now));
}

// Per-second rate of a counter between two readings, or null when it cannot be known
// (missing values, no time passed, or the counter went back to zero).
export function rate(previous, current, seconds) {
  if (previous === null || current === null || !(seconds > 0)) return null;
  const delta = current - previous;
  return delta < 0 ? null : delta / seconds;
}
