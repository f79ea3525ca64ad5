// Matcher: per-request recogniser state, masks through the shared cache (see matcher.h).
#include "dari/grammar/matcher.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <unordered_map>

#include "grammar/grammar_impl.h"
#include "grammar/mask_cache.h"
#include "grammar/stacks.h"
#include "grammar/walker.h"

namespace dari::grammar {
namespace detail {

// Top frames reaching more states than this are cached per grammar only.
constexpr uint32_t kMaxSharedStates = 4096;

class MatcherState {
 public:
  MatcherState(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocab)
      : grammar_(std::move(grammar)),
        vocab_(std::move(vocab)),
        g_(&grammar_->impl()),
        cache_(g_->cache_for(vocab_)) {}

  Status init() {
    nodes_.clear();
    terminated_ = false;
    status_ = Status::Ok();
    Workspace& ws = workspace();
    Recogniser rec(g_->a, g_->limits, &nodes_, nullptr, ws.rbuf);
    const uint32_t seed[1] = {nodes_.intern(g_->a.rule_start[g_->a.root], kEmpty)};
    if (!rec.closure(seed, ws.step)) {
      fail(rec.failure());
      return status_;
    }
    leaves_ = ws.step.leaves;
    accept_ = ws.step.accept;
    return Status::Ok();
  }

  Status fill_mask(std::span<uint64_t> out) {
    const size_t words = vocab_->mask_words();
    DARI_CHECK(out.size() >= words);
    std::fill(out.begin(), out.end(), 0);
    last_cached_ = false;
    if (!status_.ok()) {
      set_eog(out);
      return status_;
    }
    if (terminated_) return Status::Ok();
    if (!leaves_.empty()) {
      Workspace& ws = workspace();
      const bool ok = (cache_ && make_key(ws)) ? mask_from_frames(ws, out) : mask_full(ws, out);
      if (!ok) {
        std::fill(out.begin(), out.end(), 0);
        set_eog(out);
        return status_;
      }
    }
    if (accept_) set_eog(out);
    return Status::Ok();
  }

  bool accept_token(int32_t token) {
    if (!status_.ok() || terminated_) return false;
    if (token < 0 || static_cast<size_t>(token) >= vocab_->size()) return false;
    if (vocab_->is_eog(token)) {
      if (!accept_) return false;
      terminated_ = true;
      return true;
    }
    const std::string_view bytes = vocab_->token(token);
    if (bytes.empty() || bytes.size() > 0xFFFF) return false;
    return advance(bytes);
  }

  bool accept_bytes(std::string_view bytes) {
    if (!status_.ok() || terminated_) return false;
    return advance(bytes);
  }

  bool can_end() const { return status_.ok() && !terminated_ && accept_; }
  bool must_end() const { return can_end() && leaves_.empty(); }
  bool terminated() const { return terminated_; }
  const Status& status() const { return status_; }
  bool last_cached() const { return last_cached_; }
  size_t stack_count() const { return leaves_.size(); }

 private:
  void fail(const std::string& why) { status_ = make_error("grammar matcher: " + why); }

  void set_eog(std::span<uint64_t> out) const {
    for (int32_t id : vocab_->eog_ids()) {
      out[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
  }

  bool advance(std::string_view bytes) {
    Workspace& ws = workspace();
    Recogniser rec(g_->a, g_->limits, &nodes_, nullptr, ws.rbuf);
    std::vector<uint32_t>& cur = ws.tmp;
    cur = leaves_;
    bool acc = accept_;
    for (char c : bytes) {
      if (cur.empty()) return false;
      if (!rec.step(cur, static_cast<uint8_t>(c), ws.step)) {
        fail(rec.failure());
        return false;
      }
      if (ws.step.leaves.empty() && !ws.step.accept) return false;
      cur.swap(ws.step.leaves);
      acc = ws.step.accept;
    }
    leaves_ = cur;
    accept_ = acc;
    if (nodes_.size() >= compact_at_) compact();
    return true;
  }

  // Copies the live stacks into a fresh store (the old one holds every node ever made).
  void compact() {
    NodeStore fresh;
    std::unordered_map<uint32_t, uint32_t> remap;
    std::vector<uint32_t> chain;
    for (uint32_t& leaf : leaves_) {
      chain.clear();
      uint32_t id = leaf;
      while (id >= kFirstNode && remap.find(id) == remap.end()) {
        chain.push_back(id);
        id = nodes_.get(id).parent;
      }
      uint32_t base = id >= kFirstNode ? remap[id] : id;
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        base = fresh.intern(nodes_.get(*it).q, base);
        remap.emplace(*it, base);
      }
      leaf = remap[leaf];
    }
    std::sort(leaves_.begin(), leaves_.end());
    nodes_ = std::move(fresh);
    compact_at_ = std::max<size_t>(size_t{1} << 16, nodes_.size() * 4);
  }

  // The cache key of the current top frames; false if there are more callers than holes.
  bool make_key(Workspace& ws) {
    struct Top {
      uint32_t q;
      uint32_t parent;
    };
    std::vector<uint32_t>& key = ws.key;
    std::vector<uint32_t>& parents = ws.hole_parent;
    key.clear();
    parents.clear();
    thread_local std::vector<Top> tops;
    tops.clear();
    for (uint32_t id : leaves_) {
      const Node& n = nodes_.get(id);
      tops.push_back(Top{n.q, n.parent});
    }
    std::sort(tops.begin(), tops.end(), [](const Top& a, const Top& b) {
      return a.q != b.q ? a.q < b.q : a.parent < b.parent;
    });
    for (const Top& t : tops) {
      uint32_t hole = kRootHole;
      if (t.parent != kEmpty) {
        auto it = std::find(parents.begin(), parents.end(), t.parent);
        if (it == parents.end()) {
          if (parents.size() >= kMaxHoles) return false;
          parents.push_back(t.parent);
          it = parents.end() - 1;
        }
        hole = static_cast<uint32_t>(it - parents.begin());
      }
      key.push_back(t.q);
      key.push_back(hole);
    }
    return true;
  }

  // Everything from the real stacks (no cache).
  bool mask_full(Workspace& ws, std::span<uint64_t> out) {
    Walk walk(*g_, *vocab_, nodes_, ws);
    ws.depth_state[0] = walk.state(leaves_, false);
    if (!walk.run(0, static_cast<uint32_t>(vocab_->trie().size()), false, out)) {
      fail(walk.recogniser().failure());
      return false;
    }
    return true;
  }

  std::shared_ptr<const MaskEntry> compute_entry(Workspace& ws, const std::vector<uint32_t>& key) {
    Walk walk(*g_, *vocab_, nodes_, ws);
    std::vector<uint32_t>& local = ws.tmp2;
    local.clear();
    for (size_t k = 0; k < key.size(); k += 2) {
      const uint32_t hole = key[k + 1];
      const uint32_t parent = hole == kRootHole ? kEmpty : hole + 1;
      local.push_back(walk.recogniser().intern(key[k], parent));
    }
    std::sort(local.begin(), local.end());
    local.erase(std::unique(local.begin(), local.end()), local.end());
    ws.depth_state[0] = walk.state(local, false);
    const size_t words = vocab_->mask_words();
    ws.bits.assign(words, 0);
    ws.returns.clear();
    if (!walk.run(0, static_cast<uint32_t>(vocab_->trie().size()), true, ws.bits)) {
      fail(walk.recogniser().failure());
      return nullptr;
    }
    auto entry = std::make_shared<MaskEntry>();
    size_t count = 0;
    for (uint64_t w : ws.bits) count += static_cast<size_t>(std::popcount(w));
    if (count < words * 2) {  // a token list is smaller than the mask
      entry->dense = false;
      entry->tokens.reserve(count);
      for (size_t w = 0; w < words; ++w) {
        uint64_t bitsw = ws.bits[w];
        while (bitsw != 0) {
          const int b = std::countr_zero(bitsw);
          entry->tokens.push_back(static_cast<int32_t>(w * 64 + static_cast<size_t>(b)));
          bitsw &= bitsw - 1;
        }
      }
    } else {
      entry->bits = ws.bits;
    }
    entry->returns = ws.returns;
    return entry;
  }

  // The entry of one frame key {state, hole} through the caches (this grammar's, then the
  // vocabulary's, keyed by structure), computed on a miss. Null on a recogniser failure.
  std::shared_ptr<const MaskEntry> frame_entry(Workspace& ws, const std::vector<uint32_t>& key,
                                               bool* cached) {
    std::shared_ptr<const MaskEntry> entry = cache_->find(key);
    *cached = entry != nullptr;
    if (entry) return entry;
    MaskCache* shared = vocab_->shared_mask_cache();
    const bool keyed = shared != nullptr && structural_key(g_->a, key, kMaxSharedStates, &ws.skey);
    if (keyed) entry = shared->find(ws.skey);
    if (entry) {
      *cached = true;
    } else {
      entry = compute_entry(ws, key);
      if (!entry) return nullptr;
      if (keyed) shared->insert(ws.skey, entry);
    }
    cache_->insert(key, entry);
    return entry;
  }

  static void add_tokens(const MaskEntry& e, std::span<uint64_t> out) {
    if (e.dense) {
      for (size_t w = 0; w < e.bits.size(); ++w) out[w] |= e.bits[w];
    } else {
      for (int32_t id : e.tokens) out[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
  }

 public:
  // Computes and caches the entry of every automaton state with byte edges as a lone top frame
  // (its caller a hole; for the root rule's states, also the bottom), until `deadline`. Returns
  // the number of entries that were not cached yet; false in *complete if the deadline came
  // first or a walk failed.
  size_t precompute(std::chrono::steady_clock::time_point deadline, bool* complete) {
    *complete = false;
    if (!cache_) return 0;
    Workspace& ws = workspace();
    const Automaton& a = g_->a;
    size_t computed = 0;
    std::vector<uint32_t> key(2);
    for (uint32_t q = 0; q < a.n_states(); ++q) {
      if (!a.has_bytes(q)) continue;
      const bool in_root = a.state_rule[q] == a.root;
      for (int variant = 0; variant < (in_root ? 2 : 1); ++variant) {
        if (std::chrono::steady_clock::now() >= deadline) return computed;
        key[0] = q;
        key[1] = variant == 0 ? 0 : kRootHole;
        bool cached = false;
        if (!frame_entry(ws, key, &cached)) return computed;
        computed += cached ? 0 : 1;
      }
    }
    *complete = true;
    return computed;
  }

 private:
  // The mask from the top frames: the union of each frame's cached entry (the tokens a set of
  // stacks accepts is the union of what each stack accepts), so that every entry is keyed by one
  // frame and can be computed ahead of time. Then the subtrees where a frame returns into its
  // caller are walked with the real callers.
  bool mask_from_frames(Workspace& ws, std::span<uint64_t> out) {
    const size_t frames = ws.key.size() / 2;
    std::vector<uint32_t>& one = ws.frame_key;
    std::vector<ReturnEvent>& returns = ws.frame_returns;
    returns.clear();
    std::shared_ptr<const MaskEntry> entry;
    bool all_cached = true;
    for (size_t f = 0; f < frames; ++f) {
      const uint32_t hole = ws.key[2 * f + 1];
      one.assign({ws.key[2 * f], hole == kRootHole ? kRootHole : 0});
      bool cached = false;
      entry = frame_entry(ws, one, &cached);
      if (!entry) return false;
      all_cached = all_cached && cached;
      add_tokens(*entry, out);
      if (frames == 1) break;
      if (hole == kRootHole) continue;  // the bottom frame returns into no caller
      for (const ReturnEvent& ev : entry->returns) {  // bit 0 (the entry's hole) is this caller
        returns.push_back(ReturnEvent{ev.node, uint64_t{1} << hole});
      }
    }
    last_cached_ = all_cached;
    // Frames returning at the same trie node share one walk from their callers' merged state.
    if (frames > 1 && !returns.empty()) {
      std::sort(returns.begin(), returns.end(),
                [](const ReturnEvent& x, const ReturnEvent& y) { return x.node < y.node; });
      size_t kept = 0;
      for (const ReturnEvent& ev : returns) {
        if (kept > 0 && returns[kept - 1].node == ev.node) {
          returns[kept - 1].holes |= ev.holes;
        } else {
          returns[kept++] = ev;
        }
      }
      returns.resize(kept);
    }
    const std::vector<ReturnEvent>& events = frames == 1 ? entry->returns : returns;
    if (events.empty()) return true;

    Walk walk(*g_, *vocab_, nodes_, ws);
    const size_t n_holes = ws.hole_parent.size();
    uint32_t cont[kMaxHoles];
    for (size_t h = 0; h < n_holes; ++h) {
      if (!walk.closure_state(ws.hole_parent[h], &cont[h])) {
        fail(walk.recogniser().failure());
        return false;
      }
    }
    const std::span<const TrieNode> trie = vocab_->trie();
    std::vector<uint32_t>& merged = ws.tmp2;
    for (const ReturnEvent& ev : events) {
      uint32_t state;
      if (std::has_single_bit(ev.holes)) {
        state = cont[std::countr_zero(ev.holes)];
      } else {
        merged.clear();
        bool acc = false;
        for (uint64_t m = ev.holes; m != 0; m &= m - 1) {
          const uint32_t s = cont[std::countr_zero(m)];
          const auto lv = ws.states.leaves(s);
          merged.insert(merged.end(), lv.begin(), lv.end());
          acc = acc || ws.states.accept(s);
        }
        std::sort(merged.begin(), merged.end());
        merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
        state = walk.state(merged, acc);
      }
      if (state == kDead) continue;
      walk.set_tokens(ev.node, out);
      ws.depth_state[trie[ev.node].depth] = state;
      if (!walk.run(ev.node + 1, trie[ev.node].next, false, out)) {
        fail(walk.recogniser().failure());
        return false;
      }
    }
    return true;
  }

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const Vocabulary> vocab_;
  const GrammarImpl* g_;
  std::shared_ptr<MaskCache> cache_;
  NodeStore nodes_;
  std::vector<uint32_t> leaves_;
  bool accept_ = false;
  bool terminated_ = false;
  bool last_cached_ = false;
  Status status_;
  size_t compact_at_ = size_t{1} << 16;
};

}  // namespace detail

Result<Matcher> Matcher::create(std::shared_ptr<const Grammar> grammar,
                                std::shared_ptr<const Vocabulary> vocabulary) {
  if (!grammar || !vocabulary) return make_error("grammar matcher: null grammar or vocabulary");
  auto s = std::make_unique<detail::MatcherState>(std::move(grammar), std::move(vocabulary));
  DARI_TRY(s->init());
  return Matcher(std::move(s));
}

Matcher::Matcher(std::unique_ptr<detail::MatcherState> state) : s_(std::move(state)) {}
Matcher::Matcher(const Matcher& other) : s_(std::make_unique<detail::MatcherState>(*other.s_)) {}
Matcher& Matcher::operator=(const Matcher& other) {
  if (this != &other) s_ = std::make_unique<detail::MatcherState>(*other.s_);
  return *this;
}
Matcher::Matcher(Matcher&&) noexcept = default;
Matcher& Matcher::operator=(Matcher&&) noexcept = default;
Matcher::~Matcher() = default;

Status Matcher::fill_mask(std::span<uint64_t> allowed) {
  return s_->fill_mask(allowed);
}
bool Matcher::accept(int32_t token) {
  return s_->accept_token(token);
}
bool Matcher::accept_bytes(std::string_view bytes) {
  return s_->accept_bytes(bytes);
}
bool Matcher::can_end() const {
  return s_->can_end();
}
bool Matcher::must_end() const {
  return s_->must_end();
}
bool Matcher::terminated() const {
  return s_->terminated();
}
const Status& Matcher::status() const {
  return s_->status();
}
bool precompute_masks(const std::shared_ptr<const Grammar>& grammar,
                      const std::shared_ptr<const Vocabulary>& vocabulary,
                      std::chrono::milliseconds budget, size_t* computed) {
  if (computed != nullptr) *computed = 0;
  if (!grammar || !vocabulary) return false;
  detail::MatcherState s(grammar, vocabulary);
  if (!s.init().ok()) return false;
  bool complete = false;
  const size_t n = s.precompute(std::chrono::steady_clock::now() + budget, &complete);
  if (computed != nullptr) *computed = n;
  return complete;
}

void Matcher::reset() {
  (void)s_->init();
}
bool Matcher::last_mask_cached() const {
  return s_->last_cached();
}
size_t Matcher::stack_count() const {
  return s_->stack_count();
}

}  // namespace dari::grammar
