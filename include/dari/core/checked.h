// Overflow-checked integer arithmetic for sizes, counts and offsets read from files or requests.
//
// Each function returns false (and leaves *out unspecified) when the exact result does not fit.
// Use these for every value that comes from outside the process before it sizes an allocation
// or indexes memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>

namespace dari {

template <class T>
[[nodiscard]] inline bool checked_add(T a, T b, T* out) {
  return !__builtin_add_overflow(a, b, out);
}

template <class T>
[[nodiscard]] inline bool checked_mul(T a, T b, T* out) {
  return !__builtin_mul_overflow(a, b, out);
}

template <class T>
[[nodiscard]] inline bool checked_sub(T a, T b, T* out) {
  return !__builtin_sub_overflow(a, b, out);
}

// Product of all factors, or nullopt on overflow.
[[nodiscard]] inline std::optional<uint64_t> checked_product(std::initializer_list<uint64_t> xs) {
  uint64_t acc = 1;
  for (uint64_t x : xs) {
    if (!checked_mul(acc, x, &acc)) return std::nullopt;
  }
  return acc;
}

// Round x up to a multiple of align (align > 0), or nullopt on overflow.
[[nodiscard]] inline std::optional<uint64_t> checked_align_up(uint64_t x, uint64_t align) {
  if (align == 0) return std::nullopt;
  uint64_t rem = x % align;
  if (rem == 0) return x;
  uint64_t out = 0;
  if (!checked_add(x, align - rem, &out)) return std::nullopt;
  return out;
}

// True when [offset, offset + size) lies inside [0, limit).
[[nodiscard]] inline bool range_within(uint64_t offset, uint64_t size, uint64_t limit) {
  uint64_t end = 0;
  return checked_add(offset, size, &end) && end <= limit;
}

}  // namespace dari
