// Unicode scalar ranges -> UTF-8 byte-range sequences.
#pragma once

#include <cstdint>
#include <vector>

#include "grammar/ast.h"

namespace dari::grammar::detail {

struct ByteRange {
  uint8_t lo;
  uint8_t hi;
  bool operator==(const ByteRange&) const = default;
};

// A sequence of 1..4 byte ranges; the bytes matching it (one from each range, in order) are
// exactly the UTF-8 encodings of a sub-range of scalar values.
struct Utf8Seq {
  uint8_t len = 0;
  ByteRange r[4];
};

// Appends sequences whose union matches exactly the UTF-8 encodings of the scalar values in
// [lo, hi] (lo <= hi <= 0x10FFFF; the caller has removed surrogates). Sequences are disjoint.
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<Utf8Seq>& out);

}  // namespace dari::grammar::detail
