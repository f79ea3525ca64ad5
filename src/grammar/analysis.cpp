// Static checks and clean-up of a freshly built automaton (all linear-time work lists; no
// recursion over grammar structure).
//
// 1. Left recursion. A state is "null-reachable" if its rule's start reaches it by calling only
//    rules that can match the empty string. Those calls are the rule's leftmost calls; a cycle in
//    the graph of leftmost calls is left recursion (the recogniser could push forever).
// 2. Trimming. A state is productive if it reaches a final state through byte edges and calls
//    to productive rules. Unproductive states and the edges into them go, then everything the
//    root cannot reach. A root that is not productive matches no finite string: an error.
// 3. Merging. States with identical edges and final flag behave the same; a few rounds of
//    merging (states grouped by a hash of their edges, then compared) shrink the automaton
//    (e.g. the copies of a class's end state) and make stack sets and cache keys smaller.
// 4. Tail calls (see grammar_impl.h).
#include <algorithm>
#include <string>

#include "dari/core/strings.h"
#include "grammar/gbnf_parser.h"
#include "grammar/grammar_impl.h"
#include "grammar/stacks.h"

namespace dari::grammar::detail {
namespace {

Status check_left_recursion(const Automaton& a) {
  const uint32_t n = a.n_states();
  const uint32_t n_rules = static_cast<uint32_t>(a.rule_start.size());
  std::vector<uint8_t> nullable(n_rules, 0), reach(n, 0);
  std::vector<std::vector<uint32_t>> waiters(n_rules);
  std::vector<uint32_t> work;
  auto mark = [&](uint32_t s) {
    if (!reach[s]) {
      reach[s] = 1;
      work.push_back(s);
    }
  };
  for (uint32_t r = 0; r < n_rules; ++r) mark(a.rule_start[r]);
  while (!work.empty()) {
    const uint32_t s = work.back();
    work.pop_back();
    if (a.is_final[s]) {
      const uint32_t r = a.state_rule[s];
      if (!nullable[r]) {
        nullable[r] = 1;
        for (uint32_t ret : waiters[r]) mark(ret);
        waiters[r].clear();
        waiters[r].shrink_to_fit();
      }
    }
    for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
      const CallEdge& c = a.calls[k];
      if (nullable[c.rule]) {
        mark(c.ret);
      } else {
        waiters[c.rule].push_back(c.ret);
      }
    }
  }
  // Graph of leftmost calls, CSR by caller.
  std::vector<std::pair<uint32_t, uint32_t>> edges;
  for (uint32_t s = 0; s < n; ++s) {
    if (!reach[s]) continue;
    for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
      edges.emplace_back(a.state_rule[s], a.calls[k].rule);
    }
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  std::vector<uint32_t> begin(n_rules + 1, 0);
  for (const auto& e : edges) ++begin[e.first + 1];
  for (uint32_t r = 0; r < n_rules; ++r) begin[r + 1] += begin[r];
  // Iterative DFS; colour 1 = on the current path, 2 = done.
  std::vector<uint8_t> colour(n_rules, 0);
  std::vector<uint32_t> next_edge(n_rules, 0);
  std::vector<uint32_t> path;
  for (uint32_t root = 0; root < n_rules; ++root) {
    if (colour[root]) continue;
    path.assign(1, root);
    colour[root] = 1;
    next_edge[root] = begin[root];
    while (!path.empty()) {
      const uint32_t r = path.back();
      if (next_edge[r] == begin[r + 1]) {
        colour[r] = 2;
        path.pop_back();
        continue;
      }
      const uint32_t callee = edges[next_edge[r]++].second;
      if (colour[callee] == 1) {
        auto from = std::find(path.begin(), path.end(), callee);
        std::string cycle;
        for (auto it = from; it != path.end(); ++it) {
          cycle += "'" + a.rule_names[*it] + "' -> ";
        }
        cycle += "'" + a.rule_names[callee] + "'";
        return make_error(str_format(
            "gbnf %s: left recursion: %s (a rule reaches itself without consuming input)",
            format_pos(a.rule_pos[callee]).c_str(), cycle.c_str()));
      }
      if (colour[callee] == 0) {
        colour[callee] = 1;
        next_edge[callee] = begin[callee];
        path.push_back(callee);
      }
    }
  }
  return Status::Ok();
}

// Rebuilds `a` keeping states with keep_id[s] != UINT32_MAX (renumbered to keep_id[s]) and the
// edges accepted by the predicates, with targets renumbered through `map`.
void rebuild(Automaton& a, const std::vector<uint32_t>& map, uint32_t new_count,
             const std::vector<uint8_t>& byte_ok, const std::vector<uint8_t>& call_ok) {
  const uint32_t n = a.n_states();
  // The representative (lowest old id) of each new state supplies its edges.
  std::vector<uint32_t> rep(new_count, UINT32_MAX);
  for (uint32_t s = 0; s < n; ++s) {
    if (map[s] != UINT32_MAX && rep[map[s]] == UINT32_MAX) rep[map[s]] = s;
  }
  Automaton out;
  out.rule_names = std::move(a.rule_names);
  out.rule_pos = std::move(a.rule_pos);
  out.root = a.root;
  out.is_final.resize(new_count);
  out.state_rule.resize(new_count);
  std::vector<ByteEdge> bytes;
  std::vector<CallEdge> calls;
  for (uint32_t ns = 0; ns < new_count; ++ns) {
    const uint32_t s = rep[ns];
    out.is_final[ns] = a.is_final[s];
    out.state_rule[ns] = a.state_rule[s];
    bytes.clear();
    for (uint32_t k = a.byte_begin[s]; k < a.byte_begin[s + 1]; ++k) {
      if (!byte_ok[k]) continue;
      ByteEdge e = a.bytes[k];
      e.target = map[e.target];
      bytes.push_back(e);
    }
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
    calls.clear();
    for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
      if (!call_ok[k]) continue;
      CallEdge c = a.calls[k];
      c.ret = map[c.ret];
      calls.push_back(c);
    }
    std::sort(calls.begin(), calls.end(), [](const CallEdge& x, const CallEdge& y) {
      return x.rule != y.rule ? x.rule < y.rule : x.ret < y.ret;
    });
    calls.erase(std::unique(calls.begin(), calls.end(),
                            [](const CallEdge& x, const CallEdge& y) {
                              return x.rule == y.rule && x.ret == y.ret;
                            }),
                calls.end());
    out.bytes.insert(out.bytes.end(), bytes.begin(), bytes.end());
    out.calls.insert(out.calls.end(), calls.begin(), calls.end());
    out.byte_begin.push_back(static_cast<uint32_t>(out.bytes.size()));
    out.call_begin.push_back(static_cast<uint32_t>(out.calls.size()));
  }
  out.rule_start.resize(a.rule_start.size());
  for (size_t r = 0; r < a.rule_start.size(); ++r) {
    const uint32_t s = a.rule_start[r];
    out.rule_start[r] = s == UINT32_MAX ? UINT32_MAX : map[s];
  }
  a = std::move(out);
}

Status trim(Automaton& a) {
  const uint32_t n = a.n_states();
  const uint32_t n_rules = static_cast<uint32_t>(a.rule_start.size());
  const uint32_t n_calls = static_cast<uint32_t>(a.calls.size());
  // Reverse indexes.
  std::vector<uint32_t> rb(n + 1, 0);
  for (const ByteEdge& e : a.bytes) ++rb[e.target + 1];
  for (uint32_t s = 0; s < n; ++s) rb[s + 1] += rb[s];
  std::vector<uint32_t> rev_byte(a.bytes.size());
  {
    std::vector<uint32_t> fill(rb.begin(), rb.end() - 1);
    for (uint32_t s = 0; s < n; ++s) {
      for (uint32_t k = a.byte_begin[s]; k < a.byte_begin[s + 1]; ++k) {
        rev_byte[fill[a.bytes[k].target]++] = s;
      }
    }
  }
  std::vector<uint32_t> call_src(n_calls);
  for (uint32_t s = 0; s < n; ++s) {
    for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) call_src[k] = s;
  }
  std::vector<uint32_t> rr(n + 1, 0), rrule(n_rules + 1, 0);
  for (const CallEdge& c : a.calls) {
    ++rr[c.ret + 1];
    ++rrule[c.rule + 1];
  }
  for (uint32_t s = 0; s < n; ++s) rr[s + 1] += rr[s];
  for (uint32_t r = 0; r < n_rules; ++r) rrule[r + 1] += rrule[r];
  std::vector<uint32_t> by_ret(n_calls), by_rule(n_calls);
  {
    std::vector<uint32_t> f1(rr.begin(), rr.end() - 1), f2(rrule.begin(), rrule.end() - 1);
    for (uint32_t k = 0; k < n_calls; ++k) {
      by_ret[f1[a.calls[k].ret]++] = k;
      by_rule[f2[a.calls[k].rule]++] = k;
    }
  }
  std::vector<uint32_t> rule_at(n, UINT32_MAX);
  for (uint32_t r = 0; r < n_rules; ++r) rule_at[a.rule_start[r]] = r;

  std::vector<uint8_t> prod(n, 0), prod_rule(n_rules, 0);
  std::vector<uint32_t> work;
  auto mark = [&](uint32_t s) {
    if (!prod[s]) {
      prod[s] = 1;
      work.push_back(s);
    }
  };
  for (uint32_t s = 0; s < n; ++s) {
    if (a.is_final[s]) mark(s);
  }
  while (!work.empty()) {
    const uint32_t t = work.back();
    work.pop_back();
    for (uint32_t k = rb[t]; k < rb[t + 1]; ++k) mark(rev_byte[k]);
    for (uint32_t k = rr[t]; k < rr[t + 1]; ++k) {
      const uint32_t c = by_ret[k];
      if (prod_rule[a.calls[c].rule]) mark(call_src[c]);
    }
    const uint32_t r = rule_at[t];
    if (r != UINT32_MAX && !prod_rule[r]) {
      prod_rule[r] = 1;
      for (uint32_t k = rrule[r]; k < rrule[r + 1]; ++k) {
        const uint32_t c = by_rule[k];
        if (prod[a.calls[c].ret]) mark(call_src[c]);
      }
    }
  }
  if (!prod_rule[a.root]) {
    return make_error(str_format("gbnf %s: rule '%s' matches no finite string",
                                 format_pos(a.rule_pos[a.root]).c_str(),
                                 a.rule_names[a.root].c_str()));
  }
  std::vector<uint8_t> byte_ok(a.bytes.size()), call_ok(n_calls);
  for (size_t k = 0; k < a.bytes.size(); ++k) byte_ok[k] = prod[a.bytes[k].target];
  for (uint32_t k = 0; k < n_calls; ++k) {
    call_ok[k] = prod_rule[a.calls[k].rule] && prod[a.calls[k].ret];
  }
  // Reachable from the root through kept edges.
  std::vector<uint8_t> seen(n, 0);
  std::vector<uint8_t> rule_seen(n_rules, 0);
  auto visit = [&](uint32_t s) {
    if (!seen[s]) {
      seen[s] = 1;
      work.push_back(s);
    }
  };
  rule_seen[a.root] = 1;
  visit(a.rule_start[a.root]);
  while (!work.empty()) {
    const uint32_t s = work.back();
    work.pop_back();
    for (uint32_t k = a.byte_begin[s]; k < a.byte_begin[s + 1]; ++k) {
      if (byte_ok[k]) visit(a.bytes[k].target);
    }
    for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
      if (!call_ok[k]) continue;
      visit(a.calls[k].ret);
      rule_seen[a.calls[k].rule] = 1;
      visit(a.rule_start[a.calls[k].rule]);
    }
  }
  std::vector<uint32_t> map(n, UINT32_MAX);
  uint32_t count = 0;
  for (uint32_t s = 0; s < n; ++s) {
    if (seen[s] && prod[s]) map[s] = count++;
  }
  for (uint32_t r = 0; r < n_rules; ++r) {
    if (!rule_seen[r]) a.rule_start[r] = UINT32_MAX;
  }
  rebuild(a, map, count, byte_ok, call_ok);
  return Status::Ok();
}

uint64_t state_hash(const Automaton& a, uint32_t s) {
  uint64_t h = mix64(a.is_final[s] + 0x9e3779b97f4a7c15ULL);
  for (uint32_t k = a.byte_begin[s]; k < a.byte_begin[s + 1]; ++k) {
    h = mix64(h ^ ((uint64_t{a.bytes[k].lo} << 40) | (uint64_t{a.bytes[k].hi} << 32) |
                   a.bytes[k].target));
  }
  h = mix64(h ^ 0x5851f42d4c957f2dULL);
  for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
    h = mix64(h ^ ((uint64_t{a.calls[k].rule} << 32) | a.calls[k].ret));
  }
  return h;
}

bool same_edges(const Automaton& a, uint32_t x, uint32_t y) {
  if (a.is_final[x] != a.is_final[y]) return false;
  const uint32_t nb = a.byte_begin[x + 1] - a.byte_begin[x];
  const uint32_t nc = a.call_begin[x + 1] - a.call_begin[x];
  if (nb != a.byte_begin[y + 1] - a.byte_begin[y] || nc != a.call_begin[y + 1] - a.call_begin[y]) {
    return false;
  }
  for (uint32_t k = 0; k < nb; ++k) {
    const ByteEdge& e = a.bytes[a.byte_begin[x] + k];
    const ByteEdge& f = a.bytes[a.byte_begin[y] + k];
    if (e.lo != f.lo || e.hi != f.hi || e.target != f.target) return false;
  }
  for (uint32_t k = 0; k < nc; ++k) {
    const CallEdge& c = a.calls[a.call_begin[x] + k];
    const CallEdge& d = a.calls[a.call_begin[y] + k];
    if (c.rule != d.rule || c.ret != d.ret) return false;
  }
  return true;
}

void merge_equivalent(Automaton& a) {
  for (int round = 0; round < 8; ++round) {
    const uint32_t n = a.n_states();
    // Group states by a hash of their edges, then compare within groups.
    std::vector<std::pair<uint64_t, uint32_t>> hs(n);
    for (uint32_t s = 0; s < n; ++s) hs[s] = {state_hash(a, s), s};
    std::sort(hs.begin(), hs.end());
    std::vector<uint32_t> rep(n);
    std::vector<uint32_t> reps;  // representatives of the current hash group
    for (size_t i = 0; i < hs.size(); ++i) {
      if (i == 0 || hs[i].first != hs[i - 1].first) reps.clear();
      const uint32_t s = hs[i].second;
      uint32_t r = s;
      for (uint32_t cand : reps) {
        if (same_edges(a, cand, s)) {
          r = cand;
          break;
        }
      }
      if (r == s) reps.push_back(s);
      rep[s] = r;  // the lowest id of the class (the sort puts lower ids first)
    }
    std::vector<uint32_t> map(n, UINT32_MAX);
    uint32_t count = 0;
    for (uint32_t s = 0; s < n; ++s) {
      if (rep[s] == s) map[s] = count++;
    }
    if (count == n) return;
    for (uint32_t s = 0; s < n; ++s) map[s] = map[rep[s]];
    std::vector<uint8_t> byte_ok(a.bytes.size(), 1), call_ok(a.calls.size(), 1);
    rebuild(a, map, count, byte_ok, call_ok);
    if (n - count < n / 64) return;  // later rounds would gain little
  }
}

}  // namespace

Status analyse_automaton(Automaton& a, const GrammarLimits& limits) {
  (void)limits;
  DARI_TRY(check_left_recursion(a));
  DARI_TRY(trim(a));
  merge_equivalent(a);
  for (CallEdge& c : a.calls) {
    const uint32_t r = c.ret;
    c.tail = (a.is_final[r] && !a.has_bytes(r) && a.call_begin[r + 1] == a.call_begin[r]) ? 1 : 0;
  }
  return Status::Ok();
}

}  // namespace dari::grammar::detail
