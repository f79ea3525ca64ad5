// compile_gbnf: parse -> build automaton -> analyse -> check the start state; Grammar accessors.
#include "dari/grammar/grammar.h"

#include "dari/core/strings.h"
#include "grammar/gbnf_parser.h"
#include "grammar/grammar_impl.h"
#include "grammar/mask_cache.h"
#include "grammar/stacks.h"

namespace dari::grammar {

namespace detail {

std::shared_ptr<MaskCache> GrammarImpl::cache_for(
    const std::shared_ptr<const Vocabulary>& vocab) const {
  if (limits.mask_cache_bytes == 0) return nullptr;
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (auto it = caches_.begin(); it != caches_.end();) {
    if (it->first.expired()) {
      it = caches_.erase(it);
      continue;
    }
    if (!it->first.owner_before(vocab) && !vocab.owner_before(it->first)) return it->second;
    ++it;
  }
  auto cache = std::make_shared<MaskCache>(limits.mask_cache_bytes);
  caches_.emplace_back(vocab, cache);
  return cache;
}

}  // namespace detail

Grammar::Grammar(std::unique_ptr<detail::GrammarImpl> impl) : impl_(std::move(impl)) {}
Grammar::~Grammar() = default;

size_t Grammar::rule_count() const {
  return impl_->a.rule_start.size();
}
size_t Grammar::state_count() const {
  return impl_->a.n_states();
}
size_t Grammar::edge_count() const {
  return impl_->a.bytes.size() + impl_->a.calls.size();
}
const GrammarLimits& Grammar::limits() const {
  return impl_->limits;
}

std::string Grammar::describe() const {
  const detail::Automaton& a = impl_->a;
  std::string out;
  for (size_t r = 0; r < a.rule_start.size(); ++r) {
    if (a.rule_start[r] == UINT32_MAX) continue;
    out += str_format("rule %s: start %u\n", a.rule_names[r].c_str(), a.rule_start[r]);
  }
  for (uint32_t s = 0; s < a.n_states(); ++s) {
    out += str_format("%u%s:", s, a.is_final[s] ? " (final)" : "");
    for (uint32_t k = a.byte_begin[s]; k < a.byte_begin[s + 1]; ++k) {
      const detail::ByteEdge& e = a.bytes[k];
      if (e.lo == e.hi) {
        out += str_format(" [%02X]->%u", e.lo, e.target);
      } else {
        out += str_format(" [%02X-%02X]->%u", e.lo, e.hi, e.target);
      }
    }
    for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
      const detail::CallEdge& c = a.calls[k];
      out += str_format(" call %s->%u%s", a.rule_names[c.rule].c_str(), c.ret,
                        c.tail ? " (tail)" : "");
    }
    out += "\n";
  }
  return out;
}

Result<std::shared_ptr<const Grammar>> compile_gbnf(std::string_view source,
                                                    const GrammarLimits& limits) {
  DARI_ASSIGN_OR_RETURN(detail::Ast ast, detail::parse_gbnf(source, limits));
  DARI_ASSIGN_OR_RETURN(detail::Automaton a, detail::build_automaton(ast, limits));
  DARI_TRY(detail::analyse_automaton(a, limits));
  // The start state must be within the recogniser's bounds.
  {
    detail::NodeStore nodes;
    detail::RecogniserBuffers buf;
    detail::StepResult out;
    detail::Recogniser rec(a, limits, &nodes, nullptr, buf);
    const uint32_t seed[1] = {nodes.intern(a.rule_start[a.root], detail::kEmpty)};
    if (!rec.closure(seed, out)) return make_error("gbnf: " + rec.failure());
  }
  auto impl = std::make_unique<detail::GrammarImpl>();
  impl->limits = limits;
  impl->a = std::move(a);
  return std::shared_ptr<const Grammar>(std::make_shared<Grammar>(std::move(impl)));
}

}  // namespace dari::grammar
