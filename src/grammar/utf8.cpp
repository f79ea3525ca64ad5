// Splitting scalar ranges into UTF-8 byte-range sequences.
//
// A range of scalars with the same encoded length maps to one byte-range sequence when, at every
// position after the first that differs, the range covers every continuation byte (0x80..0xBF).
// Otherwise it is cut at the boundary where the low continuation bytes wrap, and both halves are
// split again. A small explicit work list keeps this iterative.
#include "grammar/utf8.h"

#include <utility>

namespace dari::grammar::detail {
namespace {

int encoded_len(uint32_t cp) {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3;
  return 4;
}

void encode(uint32_t cp, int len, uint8_t* b) {
  switch (len) {
    case 1:
      b[0] = static_cast<uint8_t>(cp);
      break;
    case 2:
      b[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
      b[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    case 3:
      b[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
      b[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      b[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
    default:
      b[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
      b[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
      b[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
      b[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
      break;
  }
}

}  // namespace

void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<Utf8Seq>& out) {
  // Work list of ranges still to split, processed in ascending order (pushed high half first).
  std::vector<std::pair<uint32_t, uint32_t>> work;
  work.emplace_back(lo, hi);
  while (!work.empty()) {
    auto [a, b] = work.back();
    work.pop_back();
    const int la = encoded_len(a), lb = encoded_len(b);
    if (la != lb) {
      const uint32_t cut = la == 1 ? 0x7F : la == 2 ? 0x7FF : 0xFFFF;
      work.emplace_back(cut + 1, b);
      work.emplace_back(a, cut);
      continue;
    }
    bool split = false;
    for (int i = 1; i < la && !split; ++i) {
      const uint32_t m = (1u << (6 * i)) - 1;  // the low i continuation bytes
      if ((a & ~m) == (b & ~m)) continue;      // they differ only inside these bytes
      if ((a & m) != 0) {
        work.emplace_back((a | m) + 1, b);
        work.emplace_back(a, a | m);
        split = true;
      } else if ((b & m) != m) {
        work.emplace_back(b & ~m, b);
        work.emplace_back(a, (b & ~m) - 1);
        split = true;
      }
    }
    if (split) continue;
    uint8_t ea[4], eb[4];
    encode(a, la, ea);
    encode(b, la, eb);
    Utf8Seq s;
    s.len = static_cast<uint8_t>(la);
    for (int i = 0; i < la; ++i) s.r[i] = ByteRange{ea[i], eb[i]};
    out.push_back(s);
  }
}

}  // namespace dari::grammar::detail
