// grammar_bench: mask computation time during a JSON generation (plain main, no Google Benchmark).
//
// For a synthetic vocabulary of realistic byte strings (all bytes, English subwords with and
// without a leading space, numbers, punctuation, JSON pieces, indentation, UTF-8 characters and
// fragments) of 32k and 150k tokens, it compiles a JSON schema, then walks a sample document:
// at each step it times fill_mask and accepts the longest allowed token that is a prefix of the
// rest of the document. Three passes per vocabulary:
//   cold        a new vocabulary and a new grammar: every cache empty
//   recompiled  the schema compiled again (a new grammar, as each request would get) on the
//               same vocabulary: its own cache is empty, the vocabulary's shared cache is warm
//   warm        a second matcher on the first grammar: its cache is warm
// plus the cold pass split by whether each mask was a cache hit.
// Prints p50 / p99 / max in microseconds of thread CPU time (so that other processes on a
// shared machine do not count), and the wall-clock p99 beside it.
//
// Usage: grammar_bench [--vocab FILE]   (FILE: one token per line, hex-encoded bytes; adds a
// run with that vocabulary)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dari/grammar/json_schema.h"
#include "dari/grammar/matcher.h"

namespace {

using dari::grammar::Matcher;
using dari::grammar::Vocabulary;
using Clock = std::chrono::steady_clock;

const char* const kWords[] = {
    "the",     "of",        "and",     "to",       "in",       "is",      "that",     "for",
    "it",      "as",        "was",     "with",     "be",       "by",      "on",       "not",
    "he",      "this",      "are",     "or",       "his",      "from",    "at",       "which",
    "but",     "have",      "an",      "had",      "they",     "you",     "were",     "their",
    "one",     "all",       "we",      "can",      "her",      "has",     "there",    "been",
    "if",      "more",      "when",    "will",     "would",    "who",     "so",       "no",
    "name",    "value",     "type",    "id",       "data",     "user",    "email",    "address",
    "city",    "street",    "country", "order",    "items",    "price",   "quantity", "status",
    "created", "updated",   "date",    "time",     "true",     "false",   "null",     "description",
    "title",   "total",     "amount",  "currency", "phone",    "first",   "last",     "age",
    "tags",    "notes",     "product", "customer", "shipping", "billing", "zip",      "code",
    "state",   "London",    "Paris",   "Berlin",   "Main",     "Street",  "Road",     "Avenue",
    "John",    "Smith",     "Alice",   "payment",  "method",   "card",    "paid",     "pending",
    "shipped", "delivered", "widget",  "gadget",   "blue",     "red",     "green",    "large",
    "small",   "medium",    "express", "standard", "gift",     "wrap",    "ing",      "ed",
    "er",      "ly",        "tion",    "ment",     "ness",     "able",    "pre",      "con",
    "com",     "pro",       "re",      "de",       "un",       "in",      "ex",       "per",
    "sub",     "inter",     "trans",   "over",     "under",    "out",     "up",
};

const char* const kSyllables[] = {
    "a",  "e",  "i",  "o",  "u",  "ba", "be", "ca", "co", "da", "de", "di", "fa", "ga", "ha",
    "he", "la", "le", "li", "lo", "ma", "me", "mi", "mo", "na", "ne", "no", "pa", "pe", "po",
    "ra", "re", "ri", "ro", "sa", "se", "si", "so", "ta", "te", "ti", "to", "va", "ve", "wa",
    "we", "ya", "st", "th", "ch", "sh", "ng", "nd", "nt", "rs", "ck", "ll", "ss", "tt", "er"};

std::vector<std::string> synthetic_vocab(size_t target, uint32_t seed) {
  std::mt19937 rng(seed);
  std::set<std::string> seen;
  std::vector<std::string> toks;
  auto add = [&](const std::string& t) {
    if (!t.empty() && toks.size() < target && seen.insert(t).second) toks.push_back(t);
  };
  for (int b = 0; b < 256; ++b) add(std::string(1, static_cast<char>(b)));
  for (const char* w : kWords) {
    std::string s = w;
    std::string cap = s;
    cap[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(cap[0])));
    for (const std::string& x : {s, cap}) {
      add(x);
      add(" " + x);
      add("\"" + x);
      add(x + "\"");
      add("\"" + x + "\":");
      add(" \"" + x + "\"");
    }
  }
  for (int n = 0; n < 1000; ++n) {
    add(std::to_string(n));
    if (n < 100) add(" " + std::to_string(n));
  }
  for (const char* p :
       {"{",    "}",     "[",      "]",      ":",     ",",      "\"",    "{\"", "\":",  "\",",
        "\"}",  "\":\"", "\"]",    "\"],",   "},",    "},{",    "}]",    "}}",  "]}",   "\":[",
        "\":{", "\": ",  "\": \"", "\", \"", ", \"",  "\":\"",  "[{",    "[\"", "\\n",  "\\\"",
        "\\u",  ".\"",   ",\"",    "!\"",    "?\"",   "...",    "--",    "==",  "->",   "//",
        "()",   " (",    ") ",     ". ",     ", ",    "; ",     ": ",    "\n",  "\n\n", "\t",
        "\r\n", "true",  "false",  "null",   " true", " false", " null", "-",   ".",    "e+",
        "e-",   "0.",    ".0",     "00",     "000",   "http",   "://",   "www", ".com", "@"}) {
    add(p);
  }
  for (int n = 1; n <= 16; ++n) {
    add(std::string(static_cast<size_t>(n), ' '));
    add("\n" + std::string(static_cast<size_t>(n), ' '));
    add("\",\n" + std::string(static_cast<size_t>(n), ' ') + "\"");
  }
  // UTF-8: accented letters, CJK, emoji, and fragments of them.
  for (uint32_t cp : {0xE9u, 0xE8u, 0xE0u, 0xFCu, 0xF6u, 0xF1u, 0xE7u, 0x20ACu, 0x2014u, 0x201Cu,
                      0x201Du, 0x4E2Du, 0x6587u, 0x65E5u, 0x672Cu, 0x1F600u, 0x1F44Du}) {
    std::string s;
    if (cp < 0x800) {
      s = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    } else if (cp < 0x10000) {
      s = {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
           static_cast<char>(0x80 | (cp & 0x3F))};
    } else {
      s = {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
           static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    add(s);
    add(" " + s);
    add(s.substr(0, s.size() - 1));
    add(s.substr(1));
  }
  // Fill with generated subwords: syllable strings, many with a leading space or capital.
  while (toks.size() < target) {
    std::string w;
    const int parts = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < parts; ++k)
      w += kSyllables[rng() % (sizeof kSyllables / sizeof *kSyllables)];
    const uint32_t r = rng() % 10;
    if (r < 5) w = " " + w;
    if (r == 5) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
    if (r == 6) w = " " + std::string(1, static_cast<char>('A' + rng() % 26)) + w;
    if (r == 7) w += kWords[rng() % (sizeof kWords / sizeof *kWords)];
    add(w);
  }
  return toks;
}

const char* kSchema = R"({
  "type": "object",
  "properties": {
    "order_id": {"type": "string", "format": "uuid"},
    "created": {"type": "string", "format": "date-time"},
    "status": {"enum": ["pending", "paid", "shipped", "delivered"]},
    "customer": {
      "type": "object",
      "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "age": {"type": "integer"},
        "address": {
          "type": "object",
          "properties": {
            "street": {"type": "string"}, "city": {"type": "string"},
            "zip": {"type": "string"}, "country": {"type": "string"}
          },
          "required": ["street", "city", "zip", "country"]
        }
      },
      "required": ["name", "email", "age", "address"]
    },
    "items": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "product": {"type": "string"}, "quantity": {"type": "integer"},
          "price": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["product", "quantity", "price", "tags"]
      },
      "minItems": 1
    },
    "gift": {"type": "boolean"},
    "notes": {"type": ["string", "null"]}
  },
  "required": ["order_id", "created", "status", "customer", "items", "gift", "notes"]
})";

const char* kDocument = R"doc({
  "order_id": "3f1c2a9e-7b4d-4c8a-9e21-5d6f7a8b9c0d",
  "created": "2024-05-17T14:32:08Z",
  "status": "shipped",
  "customer": {
    "name": "Alice Smith",
    "email": "alice.smith@example.com",
    "age": 34,
    "address": {
      "street": "221 Main Street",
      "city": "London",
      "zip": "NW1 6XE",
      "country": "United Kingdom"
    }
  },
  "items": [
    {
      "product": "Blue widget (large)",
      "quantity": 2,
      "price": 19.99,
      "tags": ["blue", "large", "gift wrap"]
    },
    {
      "product": "Caf\u00e9 gadget \u2014 express edition",
      "quantity": 1,
      "price": 149.5,
      "tags": ["express"]
    }
  ],
  "gift": true,
  "notes": "Leave the parcel with the neighbour at number 23 if nobody answers the door."
})doc";

struct Sample {
  double us;       // thread CPU time
  double wall_us;  // wall clock
  bool cached;
};

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

void report(const char* label, const std::vector<Sample>& samples, int which) {
  std::vector<double> v, w;
  for (const Sample& s : samples) {
    if (which == 1 && s.cached) continue;
    if (which == 2 && !s.cached) continue;
    v.push_back(s.us);
    w.push_back(s.wall_us);
  }
  if (v.empty()) {
    std::printf("  %-28s (no samples)\n", label);
    return;
  }
  std::sort(v.begin(), v.end());
  std::sort(w.begin(), w.end());
  auto pct = [](const std::vector<double>& x, double p) {
    return x[std::min(x.size() - 1, static_cast<size_t>(p * static_cast<double>(x.size())))];
  };
  std::printf("  %-28s n=%4zu  cpu p50 %7.1f us  p99 %7.1f us  max %7.1f us | wall p99 %7.1f us\n",
              label, v.size(), pct(v, 0.50), pct(v, 0.99), v.back(), pct(w, 0.99));
}

// Walks the document; returns the per-step mask times.
std::vector<Sample> walk(Matcher m, const Vocabulary& vocab, const std::string& doc, bool* ok) {
  std::vector<Sample> out;
  std::vector<uint64_t> bits(vocab.mask_words());
  size_t pos = 0;
  *ok = true;
  while (pos < doc.size()) {
    const auto t0 = Clock::now();
    const double c0 = thread_cpu_us();
    dari::Status st = m.fill_mask(bits);
    const double us = thread_cpu_us() - c0;
    const double wall = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (!st.ok()) {
      std::fprintf(stderr, "fill_mask: %s\n", st.message().c_str());
      *ok = false;
      return out;
    }
    out.push_back(Sample{us, wall, m.last_mask_cached()});
    int32_t best = -1;
    size_t best_len = 0;
    for (size_t t = 0; t < vocab.size(); ++t) {
      if (!((bits[t / 64] >> (t % 64)) & 1)) continue;
      const std::string_view tok = vocab.token(static_cast<int32_t>(t));
      if (tok.size() > best_len && doc.compare(pos, tok.size(), tok) == 0) {
        best = static_cast<int32_t>(t);
        best_len = tok.size();
      }
    }
    if (best < 0 || !m.accept(best)) {
      std::fprintf(stderr, "no allowed token continues the document at byte %zu\n", pos);
      *ok = false;
      return out;
    }
    pos += best_len;
  }
  if (!m.can_end()) {
    std::fprintf(stderr, "document incomplete\n");
    *ok = false;
  }
  return out;
}

int run(const char* name, std::vector<std::string> toks) {
  const size_t n = toks.size();
  toks.emplace_back("");  // EOG
  auto vocab_r = Vocabulary::create(std::move(toks), {static_cast<int32_t>(n)});
  if (!vocab_r.ok()) {
    std::fprintf(stderr, "%s\n", vocab_r.message().c_str());
    return 1;
  }
  auto vocab = *vocab_r;
  const std::string doc = nlohmann::ordered_json::parse(kDocument).dump(2);
  const auto schema = nlohmann::ordered_json::parse(kSchema);
  std::printf("%s: %zu tokens, %zu trie nodes, document %zu bytes\n", name, vocab->size(),
              vocab->trie().size(), doc.size());

  auto t0 = Clock::now();
  auto grammar = dari::grammar::compile_json_schema(schema);
  const double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (!grammar.ok()) {
    std::fprintf(stderr, "%s\n", grammar.message().c_str());
    return 1;
  }
  std::printf("  schema compiled in %.2f ms: %zu rules, %zu states, %zu edges\n", compile_ms,
              (*grammar)->rule_count(), (*grammar)->state_count(), (*grammar)->edge_count());
  auto m = Matcher::create(*grammar, vocab);
  if (!m.ok()) {
    std::fprintf(stderr, "%s\n", m.message().c_str());
    return 1;
  }
  bool ok = false;
  const std::vector<Sample> first = walk(*m, *vocab, doc, &ok);
  if (!ok) return 1;
  auto grammar2 = dari::grammar::compile_json_schema(schema);
  auto m2 = Matcher::create(*grammar2, vocab);
  const std::vector<Sample> recompiled = walk(*m2, *vocab, doc, &ok);
  if (!ok) return 1;
  const std::vector<Sample> cached = walk(*m, *vocab, doc, &ok);
  if (!ok) return 1;
  report("cold", first, 0);
  report("  cold, cache misses", first, 1);
  report("  cold, cache hits", first, 2);
  report("recompiled grammar", recompiled, 0);
  report("  recompiled, cache misses", recompiled, 1);
  report("warm", cached, 0);
  return 0;
}

std::vector<std::string> read_hex_vocab(const char* path) {
  std::vector<std::string> toks;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::string t;
    for (size_t i = 0; i + 1 < line.size(); i += 2) {
      t.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
    }
    toks.push_back(t);
  }
  return toks;
}

}  // namespace

int main(int argc, char** argv) {
  int rc = 0;
  rc |= run("synthetic 32k", synthetic_vocab(32000, 1));
  rc |= run("synthetic 150k", synthetic_vocab(150000, 2));
  if (argc == 3 && std::string(argv[1]) == "--vocab") {
    rc |= run(argv[2], read_hex_vocab(argv[2]));
  }
  return rc;
}
