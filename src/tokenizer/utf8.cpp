#include "tokenizer/utf8.h"

namespace dari::tok {

size_t valid_utf8_len(std::string_view s, size_t pos) {
  const size_t n = s.size() - pos;
  const auto b0 = static_cast<uint8_t>(s[pos]);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  uint32_t min_cp = 0;
  uint32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, min_cp = 0x80, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min_cp = 0x800, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min_cp = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<uint8_t>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

uint32_t decode_utf8(std::string_view s, size_t pos, size_t* len) {
  const size_t l = valid_utf8_len(s, pos);
  if (l == 0) {
    *len = 1;
    return kReplacementChar;
  }
  *len = l;
  const auto b0 = static_cast<uint8_t>(s[pos]);
  if (l == 1) return b0;
  uint32_t cp = b0 & (l == 2 ? 0x1F : l == 3 ? 0x0F : 0x07);
  for (size_t i = 1; i < l; ++i) cp = (cp << 6) | (static_cast<uint8_t>(s[pos + i]) & 0x3F);
  return cp;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacementChar;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Whether `s` (1..3 bytes) is a prefix of some valid UTF-8 sequence of a longer length.
bool is_valid_prefix(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  size_t len = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
  } else {
    return false;
  }
  if (s.size() >= len) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if ((static_cast<uint8_t>(s[i]) & 0xC0) != 0x80) return false;
  }
  if (s.size() >= 2) {
    const auto b1 = static_cast<uint8_t>(s[1]);
    if (b0 == 0xE0 && b1 < 0xA0) return false;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return false;  // surrogate
    if (b0 == 0xF0 && b1 < 0x90) return false;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return false;  // > U+10FFFF
  }
  return true;
}

}  // namespace

size_t incomplete_utf8_tail(std::string_view s) {
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const auto b = static_cast<uint8_t>(s[s.size() - k]);
    if ((b & 0xC0) != 0x80) {  // a lead byte (or ASCII): the candidate start
      return is_valid_prefix(s.substr(s.size() - k)) ? k : 0;
    }
  }
  return 0;
}

const ByteUnicodeTable& byte_unicode_table() {
  static const ByteUnicodeTable table = [] {
    ByteUnicodeTable t;
    t.cp_to_byte.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? b : next++;
      t.byte_to_cp[b] = cp;
      t.cp_to_byte[cp] = static_cast<int16_t>(b);
      append_utf8(cp, &t.byte_to_utf8[b]);
    }
    return t;
  }();
  return table;
}

std::string byte_level_decode(std::string_view text) {
  const ByteUnicodeTable& t = byte_unicode_table();
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    const uint32_t cp = decode_utf8(text, pos, &len);
    if (valid_utf8_len(text, pos) == 0) {
      out.push_back(text[pos]);  // keep stray bytes as they are
    } else if (cp < t.cp_to_byte.size() && t.cp_to_byte[cp] >= 0) {
      out.push_back(static_cast<char>(t.cp_to_byte[cp]));
    } else {
      out.append(text.substr(pos, len));
    }
    pos += len;
  }
  return out;
}

}  // namespace dari::tok
