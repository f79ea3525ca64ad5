// LRU mask cache (see mask_cache.h).
#include "grammar/mask_cache.h"

#include <unordered_map>

#include "grammar/grammar_impl.h"
#include "grammar/stacks.h"

namespace dari::grammar::detail {

size_t KeyHash::operator()(const std::vector<uint32_t>& k) const {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ k.size();
  for (uint32_t v : k) h = mix64(h ^ v) + 0x632be59bd9b4e019ULL;
  return static_cast<size_t>(h);
}

std::shared_ptr<const MaskEntry> MaskCache::find(const std::vector<uint32_t>& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->entry;
}

void MaskCache::insert(const std::vector<uint32_t>& key, std::shared_ptr<const MaskEntry> entry) {
  const size_t bytes = entry->bytes() + key.size() * 8 + 64;
  if (bytes > max_bytes_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (map_.count(key) != 0) return;  // another matcher got there first
  while (bytes_ + bytes > max_bytes_ && !lru_.empty()) {
    Item& last = lru_.back();
    bytes_ -= last.bytes;
    map_.erase(last.key);
    lru_.pop_back();
  }
  lru_.push_front(Item{key, std::move(entry), bytes});
  map_.emplace(key, lru_.begin());
  bytes_ += bytes;
}

bool structural_key(const Automaton& a, const std::vector<uint32_t>& key, uint32_t max_states,
                    std::vector<uint32_t>* out) {
  out->clear();
  std::unordered_map<uint32_t, uint32_t> canon;
  std::vector<uint32_t> order;
  auto id = [&](uint32_t s) {
    auto [it, inserted] = canon.emplace(s, static_cast<uint32_t>(order.size()));
    if (inserted) order.push_back(s);
    return it->second;
  };
  out->push_back(0x5eed0001u);  // format tag (the shared cache holds only these keys)
  out->push_back(static_cast<uint32_t>(key.size() / 2));
  for (size_t k = 0; k + 1 < key.size(); k += 2) {
    out->push_back(id(key[k]));
    out->push_back(key[k + 1]);
  }
  for (size_t i = 0; i < order.size(); ++i) {
    if (order.size() > max_states) return false;
    const uint32_t s = order[i];
    out->push_back(a.is_final[s]);
    out->push_back(a.byte_begin[s + 1] - a.byte_begin[s]);
    for (uint32_t k = a.byte_begin[s]; k < a.byte_begin[s + 1]; ++k) {
      out->push_back(uint32_t{a.bytes[k].lo} << 8 | a.bytes[k].hi);
      out->push_back(id(a.bytes[k].target));
    }
    out->push_back(a.call_begin[s + 1] - a.call_begin[s]);
    for (uint32_t k = a.call_begin[s]; k < a.call_begin[s + 1]; ++k) {
      const CallEdge& c = a.calls[k];
      out->push_back(id(a.rule_start[c.rule]));
      out->push_back(id(c.ret));
      out->push_back(c.tail);
    }
  }
  return true;
}

MaskCache::Stats MaskCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s;
  s.hits = hits_;
  s.misses = misses_;
  s.entries = map_.size();
  s.bytes = bytes_;
  return s;
}

}  // namespace dari::grammar::detail
