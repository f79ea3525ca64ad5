// AST -> epsilon-free byte automaton.
//
// Each rule is first built Thompson-style (states linked by epsilon, byte-range and call edges;
// literals are byte chains, classes are UTF-8 byte-range paths with shared suffixes, x{m,n} is m
// copies followed by n-m optional copies). Repetition bodies that would be copied into a large
// automaton become rules of their own, so copies are single call edges. Small rules that call no
// other rule (character rules, whitespace) are copied into their callers instead of being called:
// a call returns after every character it matches, and each return is a point where a cached mask
// must be completed by walking the vocabulary again with the real caller. Then, per rule, each
// state that can be entered by a byte or call edge (and the start) takes over the non-epsilon
// edges of its epsilon closure; the other states disappear.
//
// Sizes are counted as they grow; over GrammarLimits::max_elements the build stops with an
// error naming the construct being expanded.
#include <algorithm>
#include <map>

#include "dari/core/strings.h"
#include "grammar/gbnf_parser.h"
#include "grammar/grammar_impl.h"
#include "grammar/utf8.h"

namespace dari::grammar::detail {
namespace {

enum : uint8_t { kEps = 0, kByte = 1, kCall = 2 };

struct RawEdge {
  uint32_t from;
  uint32_t to;
  uint32_t rule;
  uint8_t kind;
  uint8_t lo;
  uint8_t hi;
};

// Bodies estimated above this size are not copied more than once.
constexpr uint64_t kInlineBudget = uint64_t{1} << 17;
// Rules without references estimated at most this size are copied into their callers.
constexpr uint64_t kLeafRuleBudget = 256;

uint64_t sat_add(uint64_t a, uint64_t b) {
  return a + b < a ? UINT64_MAX : a + b;
}
uint64_t sat_mul(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

// Rough automaton size of an expression (states + edges), saturating. `ref_size[r]` (when given
// and non-zero) is the size of a reference to rule r that is copied in place of a call.
uint64_t estimate(const Expr& e, const std::vector<uint64_t>* ref_size = nullptr) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return 2 * e.bytes.size() + 1;
    case ExprKind::kClass:
      return 8 * e.ranges.size() + 2;
    case ExprKind::kRef:
      if (ref_size != nullptr && e.rule < ref_size->size() && (*ref_size)[e.rule] != 0) {
        return (*ref_size)[e.rule];
      }
      return 2;
    case ExprKind::kSeq:
    case ExprKind::kAlt: {
      uint64_t n = 3;
      for (const Expr& c : e.children) n = sat_add(n, sat_add(estimate(c, ref_size), 3));
      return n;
    }
    case ExprKind::kRepeat: {
      const uint64_t copies = e.max == kUnbounded ? uint64_t{e.min} + 1 : e.max;
      return sat_add(sat_mul(estimate(e.children[0], ref_size), std::max<uint64_t>(copies, 1)),
                     4);
    }
  }
  return 1;
}

class Builder {
 public:
  Builder(const Ast& ast, const GrammarLimits& limits) : ast_(ast), lim_(limits) {
    for (const RuleDef& r : ast.rules) {
      bodies_.push_back(&r.body);
      names_.push_back(r.name);
      pos_.push_back(r.def_pos);
    }
    leaf_size_.assign(ast.rules.size(), 0);
    for (size_t r = 0; r < ast.rules.size(); ++r) {
      const uint64_t size = estimate(ast.rules[r].body);
      if (!has_ref(ast.rules[r].body) && size <= kLeafRuleBudget) leaf_size_[r] = size;
    }
  }

  Result<Automaton> run() {
    // Rules made for repetition bodies are appended while earlier rules are built.
    for (uint32_t r = 0; r < bodies_.size(); ++r) {
      const uint32_t begin = n_states_;
      rule_begin_.push_back(begin);
      where_ = pos_[r];
      const uint32_t start = new_state();
      DARI_ASSIGN_OR_RETURN(uint32_t end, build(*bodies_[r], start));
      rule_start_.push_back(start);
      rule_end_.push_back(end);
      DARI_TRY(check_budget());
    }
    rule_begin_.push_back(n_states_);
    return eliminate_epsilon();
  }

 private:
  static bool has_ref(const Expr& e) {
    if (e.kind == ExprKind::kRef) return true;
    return std::any_of(e.children.begin(), e.children.end(), has_ref);
  }
  bool is_leaf_rule(uint32_t rule) const {
    return rule < leaf_size_.size() && leaf_size_[rule] != 0;
  }
  uint32_t call(uint32_t from, uint32_t rule) {
    const uint32_t end = new_state();
    edge(from, end, kCall, rule);
    return end;
  }

  uint32_t new_state() { return n_states_++; }
  void edge(uint32_t from, uint32_t to, uint8_t kind, uint32_t rule = 0, uint8_t lo = 0,
            uint8_t hi = 0) {
    edges_.push_back(RawEdge{from, to, rule, kind, lo, hi});
  }
  Status check_budget() const {
    if (uint64_t{n_states_} + edges_.size() > lim_.max_elements) {
      return make_error(str_format(
          "gbnf %s: grammar too large after expanding repetitions (over %u states and edges)",
          format_pos(where_).c_str(), lim_.max_elements));
    }
    return Status::Ok();
  }

  Result<uint32_t> build(const Expr& e, uint32_t from) {
    DARI_TRY(check_budget());
    switch (e.kind) {
      case ExprKind::kLiteral: {
        uint32_t cur = from;
        for (char c : e.bytes) {
          const uint32_t next = new_state();
          const auto b = static_cast<uint8_t>(c);
          edge(cur, next, kByte, 0, b, b);
          cur = next;
        }
        return cur;
      }
      case ExprKind::kClass:
        return build_class(e, from);
      case ExprKind::kRef:
        if (is_leaf_rule(e.rule)) return build(*bodies_[e.rule], from);
        return call(from, e.rule);
      case ExprKind::kSeq: {
        uint32_t cur = from;
        for (const Expr& c : e.children) {
          DARI_ASSIGN_OR_RETURN(cur, build(c, cur));
        }
        return cur;
      }
      case ExprKind::kAlt: {
        const uint32_t end = new_state();
        for (const Expr& c : e.children) {
          const uint32_t s = new_state();
          edge(from, s, kEps);
          DARI_ASSIGN_OR_RETURN(uint32_t t, build(c, s));
          edge(t, end, kEps);
        }
        return end;
      }
      case ExprKind::kRepeat:
        return build_repeat(e, from);
    }
    return from;
  }

  Result<uint32_t> build_repeat(const Expr& e, uint32_t from) {
    const SourcePos saved = where_;
    where_ = e.pos;
    const Expr* body = &e.children[0];
    Expr ref;
    const uint64_t copies = e.max == kUnbounded ? uint64_t{e.min} + 1 : e.max;
    // Too large to copy: a reference stays a call in every copy, anything else becomes a rule.
    const bool as_call =
        copies > 1 && sat_mul(estimate(*body, &leaf_size_), copies) > kInlineBudget;
    if (as_call && body->kind != ExprKind::kRef) {
      if (bodies_.size() >= lim_.max_rules) {
        return make_error(str_format("gbnf %s: more than %u rules after expanding repetitions",
                                     format_pos(e.pos).c_str(), lim_.max_rules));
      }
      ref.kind = ExprKind::kRef;
      ref.pos = e.pos;
      ref.rule = static_cast<uint32_t>(bodies_.size());
      bodies_.push_back(body);
      names_.push_back(
          str_format("%s/repeat@%s", names_[current_rule()].c_str(), format_pos(e.pos).c_str()));
      pos_.push_back(e.pos);
      body = &ref;
    }
    auto copy = [&](uint32_t at) -> Result<uint32_t> {
      if (as_call) return call(at, body->rule);
      return build(*body, at);
    };
    uint32_t cur = from;
    for (uint32_t i = 0; i < e.min; ++i) {
      DARI_ASSIGN_OR_RETURN(cur, copy(cur));
    }
    uint32_t end;
    if (e.max == kUnbounded) {
      const uint32_t loop = new_state();
      edge(cur, loop, kEps);
      DARI_ASSIGN_OR_RETURN(uint32_t t, copy(loop));
      edge(t, loop, kEps);
      end = loop;
    } else {
      end = new_state();
      for (uint32_t i = e.min; i < e.max; ++i) {
        edge(cur, end, kEps);
        DARI_ASSIGN_OR_RETURN(cur, copy(cur));
      }
      edge(cur, end, kEps);
    }
    DARI_TRY(check_budget());
    where_ = saved;
    return end;
  }

  uint32_t current_rule() const { return static_cast<uint32_t>(rule_begin_.size() - 1); }

  // UTF-8 paths from `from` to a new end state; states for equal suffixes are shared.
  Result<uint32_t> build_class(const Expr& e, uint32_t from) {
    const uint32_t end = new_state();
    std::vector<Utf8Seq> seqs;
    for (const CodeRange& r : e.ranges) utf8_sequences(r.lo, r.hi, seqs);
    std::map<uint64_t, uint32_t> suffix_state;  // encoded suffix of ranges -> state
    for (const Utf8Seq& s : seqs) {
      uint32_t target = end;
      uint64_t key = 0;
      for (int p = s.len - 1; p >= 1; --p) {
        key = (key << 16) | (uint64_t{s.r[p].lo} << 8) | s.r[p].hi;
        const uint64_t full = key | (uint64_t(s.len - p) << 56);
        auto it = suffix_state.find(full);
        if (it == suffix_state.end()) {
          const uint32_t st = new_state();
          edge(st, target, kByte, 0, s.r[p].lo, s.r[p].hi);
          it = suffix_state.emplace(full, st).first;
        }
        target = it->second;
      }
      edge(from, target, kByte, 0, s.r[0].lo, s.r[0].hi);
    }
    return end;
  }

  Result<Automaton> eliminate_epsilon() {
    const uint32_t n = n_states_;
    // CSR of raw edges by source.
    std::vector<uint32_t> begin(n + 1, 0);
    for (const RawEdge& e : edges_) ++begin[e.from + 1];
    for (uint32_t i = 0; i < n; ++i) begin[i + 1] += begin[i];
    std::vector<RawEdge> sorted(edges_.size());
    {
      std::vector<uint32_t> fill(begin.begin(), begin.end() - 1);
      for (const RawEdge& e : edges_) sorted[fill[e.from]++] = e;
    }
    edges_.clear();
    edges_.shrink_to_fit();

    // Kept states: rule starts and targets of byte/call edges.
    std::vector<uint8_t> keep(n, 0);
    for (uint32_t s : rule_start_) keep[s] = 1;
    for (const RawEdge& e : sorted) {
      if (e.kind != kEps) keep[e.to] = 1;
    }
    std::vector<uint32_t> new_id(n, UINT32_MAX);
    uint32_t count = 0;
    for (uint32_t s = 0; s < n; ++s) {
      if (keep[s]) new_id[s] = count++;
    }

    Automaton a;
    a.rule_names = names_;
    a.rule_pos = pos_;
    a.root = ast_.root;
    a.is_final.assign(count, 0);
    a.state_rule.assign(count, 0);
    a.rule_start.resize(rule_start_.size());
    for (size_t r = 0; r < rule_start_.size(); ++r) a.rule_start[r] = new_id[rule_start_[r]];
    a.byte_begin.reserve(count + 1);
    a.call_begin.reserve(count + 1);

    std::vector<uint32_t> stamp(n, 0);
    uint32_t cur_stamp = 0;
    std::vector<uint32_t> stack;
    std::vector<ByteEdge> bytes;
    std::vector<CallEdge> calls;
    uint64_t visits = 0;
    const uint64_t max_visits = uint64_t{lim_.max_elements} * 16;
    uint32_t rule = 0;
    for (uint32_t s = 0; s < n; ++s) {
      while (rule + 1 < rule_begin_.size() - 1 && s >= rule_begin_[rule + 1]) ++rule;
      if (!keep[s]) continue;
      const uint32_t id = new_id[s];
      a.state_rule[id] = rule;
      ++cur_stamp;
      stack.assign(1, s);
      stamp[s] = cur_stamp;
      bytes.clear();
      calls.clear();
      bool final_state = false;
      while (!stack.empty()) {
        const uint32_t t = stack.back();
        stack.pop_back();
        if (++visits > max_visits) {
          return make_error(
              str_format("gbnf %s: grammar too large after expanding repetitions (rule '%s')",
                         format_pos(pos_[rule]).c_str(), names_[rule].c_str()));
        }
        if (t == rule_end_[rule]) final_state = true;
        for (uint32_t k = begin[t]; k < begin[t + 1]; ++k) {
          const RawEdge& e = sorted[k];
          if (e.kind == kEps) {
            if (stamp[e.to] != cur_stamp) {
              stamp[e.to] = cur_stamp;
              stack.push_back(e.to);
            }
          } else if (e.kind == kByte) {
            bytes.push_back(ByteEdge{e.lo, e.hi, new_id[e.to]});
          } else {
            calls.push_back(CallEdge{e.rule, new_id[e.to], 0});
          }
        }
      }
      // Merge byte ranges with the same target; drop duplicate calls.
      std::sort(bytes.begin(), bytes.end(), [](const ByteEdge& x, const ByteEdge& y) {
        return x.target != y.target ? x.target < y.target : x.lo < y.lo;
      });
      size_t w = 0;
      for (size_t k = 0; k < bytes.size(); ++k) {
        if (w > 0 && bytes[w - 1].target == bytes[k].target &&
            uint32_t{bytes[k].lo} <= uint32_t{bytes[w - 1].hi} + 1) {
          bytes[w - 1].hi = std::max(bytes[w - 1].hi, bytes[k].hi);
        } else {
          bytes[w++] = bytes[k];
        }
      }
      bytes.resize(w);
      std::sort(bytes.begin(), bytes.end(),
                [](const ByteEdge& x, const ByteEdge& y) { return x.lo < y.lo; });
      std::sort(calls.begin(), calls.end(), [](const CallEdge& x, const CallEdge& y) {
        return x.rule != y.rule ? x.rule < y.rule : x.ret < y.ret;
      });
      calls.erase(std::unique(calls.begin(), calls.end(),
                              [](const CallEdge& x, const CallEdge& y) {
                                return x.rule == y.rule && x.ret == y.ret;
                              }),
                  calls.end());
      a.is_final[id] = final_state ? 1 : 0;
      a.bytes.insert(a.bytes.end(), bytes.begin(), bytes.end());
      a.calls.insert(a.calls.end(), calls.begin(), calls.end());
      a.byte_begin.push_back(static_cast<uint32_t>(a.bytes.size()));
      a.call_begin.push_back(static_cast<uint32_t>(a.calls.size()));
      if (uint64_t{count} + a.bytes.size() + a.calls.size() > lim_.max_elements) {
        return make_error(str_format(
            "gbnf %s: grammar too large after expanding repetitions (over %u states and edges)",
            format_pos(pos_[rule]).c_str(), lim_.max_elements));
      }
    }
    return a;
  }

  const Ast& ast_;
  const GrammarLimits& lim_;
  std::vector<const Expr*> bodies_;
  std::vector<uint64_t> leaf_size_;  // per AST rule: its size if it is copied into callers, else 0
  std::vector<std::string> names_;
  std::vector<SourcePos> pos_;
  std::vector<uint32_t> rule_begin_, rule_start_, rule_end_;
  std::vector<RawEdge> edges_;
  uint32_t n_states_ = 0;
  SourcePos where_;
};

}  // namespace

Result<Automaton> build_automaton(const Ast& ast, const GrammarLimits& limits) {
  Builder b(ast, limits);
  return b.run();
}

}  // namespace dari::grammar::detail
