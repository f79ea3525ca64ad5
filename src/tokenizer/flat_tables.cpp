#include "tokenizer/flat_tables.h"

namespace dari::tok {

namespace {
size_t capacity_for(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap *= 2;
  return cap;
}
}  // namespace

void TokenIndex::build(const std::vector<std::string>& texts) {
  texts_ = &texts;
  slots_.assign(capacity_for(texts.size()), Slot{});
  mask_ = slots_.size() - 1;
  for (size_t id = 0; id < texts.size(); ++id) {
    const uint64_t h = hash(texts[id]);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = Slot{tag, static_cast<int32_t>(id)};
        break;
      }
      if (slot.tag == tag && texts[static_cast<size_t>(slot.id)] == texts[id]) {
        slot.id = static_cast<int32_t>(id);  // duplicate text: the later id wins
        break;
      }
    }
  }
}

void MergeTable::reserve(size_t n) {
  slots_.assign(capacity_for(n), MergeEntry{kEmpty, 0, -1});
  mask_ = slots_.size() - 1;
  size_ = 0;
}

void MergeTable::insert(uint64_t key, int32_t rank, int32_t result) {
  if (key == kEmpty) return;
  if ((size_ + 1) * 2 > slots_.size()) {  // grow (reserve() normally makes this unnecessary)
    std::vector<MergeEntry> old = std::move(slots_);
    reserve((size_ + 1) * 2);
    for (const MergeEntry& e : old) {
      if (e.key != kEmpty) insert(e.key, e.rank, e.result);
    }
  }
  for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
    MergeEntry& e = slots_[i];
    if (e.key == key) return;
    if (e.key == kEmpty) {
      e = MergeEntry{key, rank, result};
      ++size_;
      return;
    }
  }
}

}  // namespace dari::tok
