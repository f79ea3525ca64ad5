// Open-addressing hash tables used on the hot paths of loading and encoding (a few cache misses
// per lookup instead of a node chase): token text -> id, and BPE (left id, right id) -> merge.
//
// Ownership: TokenIndex stores ids only and compares against the caller's token texts, which
// must outlive it and stay in place. Thread safety: build once, then read from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dari::tok {

class TokenIndex {
 public:
  // Indexes texts[0..n); on duplicate texts the highest id wins (as llama.cpp's map does).
  void build(const std::vector<std::string>& texts);
  // -1 when absent.
  int32_t find(std::string_view s) const {
    if (slots_.empty()) return -1;
    const uint64_t h = hash(s);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.tag == tag && (*texts_)[static_cast<size_t>(slot.id)] == s) return slot.id;
    }
  }

 private:
  struct Slot {
    uint32_t tag = 0;
    int32_t id = -1;
  };
  static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  const std::vector<std::string>* texts_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

struct MergeEntry {
  uint64_t key = 0;  // (left << 32) | right; kEmpty marks a free slot
  int32_t rank = 0;
  int32_t result = -1;
};

class MergeTable {
 public:
  static constexpr uint64_t kEmpty = ~0ull;
  void reserve(size_t n);
  // Keeps the first insertion of a key (the lowest rank).
  void insert(uint64_t key, int32_t rank, int32_t result);
  const MergeEntry* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      const MergeEntry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static uint64_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
  }
  std::vector<MergeEntry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace dari::tok
