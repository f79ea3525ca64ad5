// Random grammars and vocabularies: masks equal a brute-force reference (each token tried on a
// copy of the matcher), and acceptance equals an independent reference recogniser that works on
// code points over the grammar's expression tree.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dari/grammar/matcher.h"
#include "grammar_test_util.h"

namespace dari::grammar {
namespace {

using testing::bit;
using testing::brute_force_mask;
using testing::mask_diff;
using testing::mask_of;

// ---- A small expression tree, printed as GBNF and matched by reference. ----

struct RExpr {
  enum Kind { kLit, kClass, kRef, kSeq, kAlt, kRep } kind = kLit;
  std::string lit;                                    // kLit: UTF-8
  bool negate = false;                                // kClass
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // kClass: code points
  int rule = 0;
  uint32_t min = 0, max = 0;  // kRep; max == UINT32_MAX: unbounded
  std::vector<RExpr> kids;
};

const char* const kPieces[] = {"a", "b", "c", "\xC3\xA9" /* é */, "\xF0\x9F\x98\x80" /* 😀 */};
const uint32_t kCodes[] = {'a', 'b', 'c', 0xE9, 0x1F600};

std::string cp_text(uint32_t cp) {
  for (size_t i = 0; i < 5; ++i) {
    if (kCodes[i] == cp) return kPieces[i];
  }
  return "?";
}

RExpr random_expr(std::mt19937& rng, int depth, int n_rules) {
  RExpr e;
  const int pick = static_cast<int>(rng() % (depth <= 0 ? 3 : 7));
  switch (pick) {
    case 0: {
      e.kind = RExpr::kLit;
      const int len = static_cast<int>(rng() % 3);  // may be empty
      for (int i = 0; i < len; ++i) e.lit += kPieces[rng() % 5];
      break;
    }
    case 1: {
      e.kind = RExpr::kClass;
      e.negate = rng() % 4 == 0;
      const int n = 1 + static_cast<int>(rng() % 2);
      for (int i = 0; i < n; ++i) {
        uint32_t a = kCodes[rng() % 5], b = kCodes[rng() % 5];
        if (a > b) std::swap(a, b);
        e.ranges.emplace_back(a, b);
      }
      break;
    }
    case 2:
      e.kind = RExpr::kRef;
      e.rule = static_cast<int>(rng() % static_cast<uint32_t>(n_rules));
      break;
    case 3:
    case 4: {
      e.kind = RExpr::kSeq;
      const int n = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < n; ++i) e.kids.push_back(random_expr(rng, depth - 1, n_rules));
      break;
    }
    case 5: {
      e.kind = RExpr::kAlt;
      const int n = 2 + static_cast<int>(rng() % 2);
      for (int i = 0; i < n; ++i) e.kids.push_back(random_expr(rng, depth - 1, n_rules));
      break;
    }
    default: {
      e.kind = RExpr::kRep;
      const int form = static_cast<int>(rng() % 5);
      if (form == 0) {
        e.min = 0;
        e.max = UINT32_MAX;
      }
      if (form == 1) {
        e.min = 1;
        e.max = UINT32_MAX;
      }
      if (form == 2) {
        e.min = 0;
        e.max = 1;
      }
      if (form == 3) {
        e.min = rng() % 3;
        e.max = e.min + rng() % 3;
      }
      if (form == 4) {
        e.min = rng() % 3;
        e.max = UINT32_MAX;
      }
      e.kids.push_back(random_expr(rng, depth - 1, n_rules));
      break;
    }
  }
  return e;
}

std::string to_gbnf(const RExpr& e) {
  switch (e.kind) {
    case RExpr::kLit:
      return "\"" + e.lit + "\"";
    case RExpr::kClass: {
      std::string s = e.negate ? "[^" : "[";
      for (auto [a, b] : e.ranges) s += a == b ? cp_text(a) : cp_text(a) + "-" + cp_text(b);
      return s + "]";
    }
    case RExpr::kRef:
      return "r" + std::to_string(e.rule);
    case RExpr::kSeq:
    case RExpr::kAlt: {
      std::string s = "(";
      for (size_t i = 0; i < e.kids.size(); ++i) {
        if (i) s += e.kind == RExpr::kAlt ? " | " : " ";
        s += to_gbnf(e.kids[i]);
      }
      return s + ")";
    }
    case RExpr::kRep: {
      std::string s = "(" + to_gbnf(e.kids[0]) + ")";
      if (e.min == 0 && e.max == UINT32_MAX) return s + "*";
      if (e.min == 1 && e.max == UINT32_MAX) return s + "+";
      if (e.min == 0 && e.max == 1) return s + "?";
      if (e.max == UINT32_MAX) return s + "{" + std::to_string(e.min) + ",}";
      return s + "{" + std::to_string(e.min) + "," + std::to_string(e.max) + "}";
    }
  }
  return "";
}

// Decodes one code point of valid UTF-8 at s[i]; 0 bytes if invalid.
size_t decode(const std::string& s, size_t i, uint32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t v = len == 1 ? c : c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) v = (v << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  *cp = v;
  return len;
}

// Reference recogniser: sets of end positions (bit j: the expression can end at j).
class Reference {
 public:
  Reference(const std::vector<RExpr>& rules, const std::string& s) : rules_(rules), s_(s) {}

  bool full(int root) { return (rule(root, 0) >> s_.size()) & 1; }

 private:
  using Ends = uint64_t;
  Ends rule(int r, size_t i) {
    const auto key = std::make_pair(r, i);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    memo_[key] = 0;  // in progress (left recursion is rejected, so never read back)
    const Ends e = expr(rules_[static_cast<size_t>(r)], i);
    memo_[key] = e;
    return e;
  }
  Ends from_set(const RExpr& e, Ends starts) {
    Ends out = 0;
    for (size_t j = 0; j <= s_.size(); ++j) {
      if ((starts >> j) & 1) out |= expr(e, j);
    }
    return out;
  }
  Ends expr(const RExpr& e, size_t i) {
    switch (e.kind) {
      case RExpr::kLit:
        return s_.compare(i, e.lit.size(), e.lit) == 0 && i + e.lit.size() <= s_.size()
                   ? Ends{1} << (i + e.lit.size())
                   : 0;
      case RExpr::kClass: {
        uint32_t cp = 0;
        if (i >= s_.size()) return 0;
        const size_t len = decode(s_, i, &cp);
        if (len == 0) return 0;
        bool in = false;
        for (auto [a, b] : e.ranges) in = in || (cp >= a && cp <= b);
        return in != e.negate ? Ends{1} << (i + len) : 0;
      }
      case RExpr::kRef:
        return rule(e.rule, i);
      case RExpr::kSeq: {
        Ends cur = Ends{1} << i;
        for (const RExpr& k : e.kids) cur = from_set(k, cur);
        return cur;
      }
      case RExpr::kAlt: {
        Ends out = 0;
        for (const RExpr& k : e.kids) out |= expr(k, i);
        return out;
      }
      case RExpr::kRep: {
        Ends cur = Ends{1} << i;
        Ends out = e.min == 0 ? cur : 0;
        Ends seen = cur;
        for (uint32_t n = 1; n <= e.max; ++n) {
          cur = from_set(e.kids[0], cur);
          if (n >= e.min) out |= cur;
          if (n >= e.min && (cur & ~seen) == 0) break;  // nothing new can appear
          seen |= cur;
          if (n > e.min + s_.size() + 2) break;
        }
        return out;
      }
    }
    return 0;
  }
  const std::vector<RExpr>& rules_;
  const std::string& s_;
  std::map<std::pair<int, size_t>, Ends> memo_;
};

struct RandomGrammar {
  std::vector<RExpr> rules;
  std::string text;
};

RandomGrammar random_grammar(std::mt19937& rng) {
  RandomGrammar g;
  const int n = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < n; ++r) g.rules.push_back(random_expr(rng, 3, n));
  for (int r = 0; r < n; ++r) {
    g.text += (r == 0 ? std::string("root") : "r" + std::to_string(r)) +
              " ::= " + to_gbnf(g.rules[static_cast<size_t>(r)]) + "\n";
  }
  // Rule 0 is `root`; refs print as r<i>, so give root an alias.
  g.text += "r0 ::= root\n";
  return g;
}

std::vector<std::string> all_strings(size_t max_len) {
  std::vector<std::string> out = {""};
  std::vector<std::string> layer = {""};
  for (size_t len = 1; len <= max_len; ++len) {
    std::vector<std::string> next;
    for (const std::string& s : layer) {
      for (const char* p : {"a", "b", "c", "\xC3\xA9"}) next.push_back(s + p);
    }
    out.insert(out.end(), next.begin(), next.end());
    layer = std::move(next);
  }
  out.push_back("\xF0\x9F\x98\x80");
  out.push_back(
      "a\xF0\x9F\x98\x80"
      "b");
  return out;
}

TEST(GrammarRandom, AcceptanceMatchesReference) {
  std::mt19937 rng(1234);
  const std::vector<std::string> strings = all_strings(4);
  int compiled = 0;
  for (int iter = 0; iter < 300; ++iter) {
    RandomGrammar rg = random_grammar(rng);
    auto g = compile_gbnf(rg.text);
    if (!g.ok()) continue;  // left recursion or no finite string
    ++compiled;
    for (const std::string& s : strings) {
      Reference ref(rg.rules, s);
      const bool want = ref.full(0);
      ASSERT_EQ(testing::full_match(*g, s), want) << "string '" << s << "' grammar:\n" << rg.text;
    }
  }
  EXPECT_GT(compiled, 100);
}

// A random vocabulary over the grammar alphabet, including UTF-8 fragments.
std::shared_ptr<const Vocabulary> random_vocab(std::mt19937& rng, size_t n) {
  const std::vector<std::string> atoms = {
      "a", "b", "c", "\xC3", "\xA9", "\xC3\xA9", "\xF0", "\x9F", "\x98\x80", "\xF0\x9F\x98\x80",
      "x"};
  std::vector<std::string> toks = {"", "<eos>"};  // a special token and the EOG token
  for (const std::string& a : atoms) toks.push_back(a);
  while (toks.size() < n) {
    std::string t;
    const int parts = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < parts; ++k) t += atoms[rng() % atoms.size()];
    toks.push_back(t);
  }
  return testing::make_vocab(toks, {1});
}

TEST(GrammarRandom, MasksMatchBruteForce) {
  std::mt19937 rng(99);
  int checked = 0;
  for (int iter = 0; iter < 200; ++iter) {
    RandomGrammar rg = random_grammar(rng);
    GrammarLimits lim;
    if (iter % 3 == 0) lim.mask_cache_bytes = 0;  // also the path without the cache
    auto g = compile_gbnf(rg.text, lim);
    if (!g.ok()) continue;
    auto v = random_vocab(rng, 40 + rng() % 80);
    auto m = Matcher::create(*g, v);
    ASSERT_TRUE(m.ok()) << m.message();
    for (int step = 0; step < 12; ++step) {
      const auto got = mask_of(*m, *v);
      const auto want = brute_force_mask(*m, *v);
      ASSERT_EQ(got, want) << "grammar:\n"
                           << rg.text << "step " << step << "\n"
                           << mask_diff(got, want, *v);
      ++checked;
      std::vector<int32_t> allowed;
      for (size_t t = 0; t < v->size(); ++t) {
        if (bit(got, t)) allowed.push_back(static_cast<int32_t>(t));
      }
      if (allowed.empty()) break;
      const int32_t pick = allowed[rng() % allowed.size()];
      ASSERT_TRUE(m->accept(pick));
      if (m->terminated()) break;
      // Everything allowed is a valid prefix: the text so far can still be completed.
      EXPECT_TRUE(m->can_end() || m->stack_count() > 0);
    }
  }
  EXPECT_GT(checked, 300);
}

}  // namespace
}  // namespace dari::grammar
