// Hash-consed stack nodes and the recogniser's closure / byte step.
#include "grammar/stacks.h"

#include <algorithm>

#include "dari/core/strings.h"

namespace dari::grammar::detail {

// ---- NodeStore ----

void NodeStore::clear() {
  nodes_.clear();
  slots_.clear();
}

void NodeStore::grow() {
  const size_t cap = slots_.empty() ? 1024 : slots_.size() * 2;
  std::vector<uint32_t> slots(cap, 0);
  const size_t mask = cap - 1;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    size_t h = node_hash(nodes_[i].q, nodes_[i].parent) & mask;
    while (slots[h] != 0) h = (h + 1) & mask;
    slots[h] = static_cast<uint32_t>(i + kFirstNode);
  }
  slots_ = std::move(slots);
}

uint32_t NodeStore::find(uint32_t q, uint32_t parent) const {
  if (slots_.empty()) return kEmpty;
  const size_t mask = slots_.size() - 1;
  size_t h = node_hash(q, parent) & mask;
  while (true) {
    const uint32_t id = slots_[h];
    if (id == 0) return kEmpty;
    const Node& n = nodes_[id - kFirstNode];
    if (n.q == q && n.parent == parent) return id;
    h = (h + 1) & mask;
  }
}

uint32_t NodeStore::intern(uint32_t q, uint32_t parent) {
  if ((nodes_.size() + 1) * 2 > slots_.size()) grow();
  const size_t mask = slots_.size() - 1;
  size_t h = node_hash(q, parent) & mask;
  while (true) {
    const uint32_t id = slots_[h];
    if (id == 0) break;
    const Node& n = nodes_[id - kFirstNode];
    if (n.q == q && n.parent == parent) return id;
    h = (h + 1) & mask;
  }
  const auto id = static_cast<uint32_t>(nodes_.size() + kFirstNode);
  nodes_.push_back(Node{q, parent});
  slots_[h] = id;
  return id;
}

// ---- ScratchStore ----

void ScratchStore::reset(const NodeStore* base) {
  base_ = base;
  nodes_.clear();
  if (++stamp_ == 0) {
    std::fill(stamps_.begin(), stamps_.end(), 0);
    stamp_ = 1;
  }
}

void ScratchStore::rehash(size_t capacity) {
  slots_.assign(capacity, 0);
  stamps_.assign(capacity, 0);
  stamp_ = 1;
  const size_t mask = capacity - 1;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    size_t h = node_hash(nodes_[i].q, nodes_[i].parent) & mask;
    while (stamps_[h] == stamp_) h = (h + 1) & mask;
    stamps_[h] = stamp_;
    slots_[h] = static_cast<uint32_t>(i + 1);
  }
}

uint32_t ScratchStore::intern(uint32_t q, uint32_t parent) {
  if (!(parent & kScratchBit) && base_ != nullptr) {
    const uint32_t id = base_->find(q, parent);
    if (id != kEmpty) return id;
  }
  if ((nodes_.size() + 1) * 2 > slots_.size()) {
    rehash(slots_.empty() ? 4096 : slots_.size() * 2);
  }
  const size_t mask = slots_.size() - 1;
  size_t h = node_hash(q, parent) & mask;
  while (stamps_[h] == stamp_) {
    const Node& n = nodes_[slots_[h] - 1];
    if (n.q == q && n.parent == parent) return (slots_[h] - 1) | kScratchBit;
    h = (h + 1) & mask;
  }
  nodes_.push_back(Node{q, parent});
  stamps_[h] = stamp_;
  slots_[h] = static_cast<uint32_t>(nodes_.size());
  return static_cast<uint32_t>(nodes_.size() - 1) | kScratchBit;
}

// ---- IdSet ----

void IdSet::clear() {
  count_ = 0;
  if (++stamp_ == 0) {
    std::fill(stamps_.begin(), stamps_.end(), 0);
    stamp_ = 1;
  }
}

void IdSet::rehash(size_t capacity) {
  std::vector<uint32_t> old_keys = std::move(keys_), old_stamps = std::move(stamps_);
  const uint32_t old_stamp = stamp_;
  keys_.assign(capacity, 0);
  stamps_.assign(capacity, 0);
  stamp_ = 1;
  const size_t mask = capacity - 1;
  for (size_t i = 0; i < old_keys.size(); ++i) {
    if (old_stamps[i] != old_stamp) continue;
    size_t h = mix64(old_keys[i]) & mask;
    while (stamps_[h] == stamp_) h = (h + 1) & mask;
    stamps_[h] = stamp_;
    keys_[h] = old_keys[i];
  }
}

bool IdSet::insert(uint32_t id) {
  if ((count_ + 1) * 2 > keys_.size()) rehash(keys_.empty() ? 256 : keys_.size() * 2);
  const size_t mask = keys_.size() - 1;
  size_t h = mix64(id) & mask;
  while (stamps_[h] == stamp_) {
    if (keys_[h] == id) return false;
    h = (h + 1) & mask;
  }
  stamps_[h] = stamp_;
  keys_[h] = id;
  ++count_;
  return true;
}

// ---- Recogniser ----

bool Recogniser::closure(std::span<const uint32_t> seeds, StepResult& out) {
  out.leaves.clear();
  out.accept = false;
  out.holes = 0;
  IdSet& visited = buf_.visited;
  std::vector<uint32_t>& work = buf_.work;
  visited.clear();
  work.clear();
  for (uint32_t s : seeds) {
    if (visited.insert(s)) work.push_back(s);
  }
  while (!work.empty()) {
    const uint32_t id = work.back();
    work.pop_back();
    if (++work_ > lim_.max_work) {
      failure_ = str_format("grammar too ambiguous: over %llu stack steps in one call",
                            static_cast<unsigned long long>(lim_.max_work));
      return false;
    }
    const Node node = get(id);
    const uint32_t q = node.q;
    if (a_.has_bytes(q)) {
      out.leaves.push_back(id);
      if (out.leaves.size() > lim_.max_stacks) {
        failure_ =
            str_format("grammar too ambiguous: over %u parse stacks at once", lim_.max_stacks);
        return false;
      }
    }
    if (a_.is_final[q]) {
      const uint32_t p = node.parent;
      if (p == kEmpty) {
        out.accept = true;
      } else if (is_hole(p)) {
        out.holes |= uint64_t{1} << (p - 1);
      } else if (visited.insert(p)) {
        work.push_back(p);
      }
    }
    for (uint32_t k = a_.call_begin[q]; k < a_.call_begin[q + 1]; ++k) {
      const CallEdge& c = a_.calls[k];
      const uint32_t parent = c.tail ? node.parent : intern(c.ret, node.parent);
      const uint32_t child = intern(a_.rule_start[c.rule], parent);
      if (visited.insert(child)) work.push_back(child);
    }
  }
  std::sort(out.leaves.begin(), out.leaves.end());
  return true;
}

bool Recogniser::step(std::span<const uint32_t> leaves, uint8_t byte, StepResult& out) {
  std::vector<uint32_t>& seeds = buf_.seeds;
  seeds.clear();
  for (uint32_t id : leaves) {
    const Node node = get(id);
    for (uint32_t k = a_.byte_begin[node.q]; k < a_.byte_begin[node.q + 1]; ++k) {
      const ByteEdge& e = a_.bytes[k];
      if (byte < e.lo) break;  // edges sorted by lo
      if (byte <= e.hi) seeds.push_back(intern(e.target, node.parent));
    }
  }
  return closure(seeds, out);
}

}  // namespace dari::grammar::detail
