// UTF-8 helpers and the GPT-2 byte <-> unicode mapping used by byte-level BPE vocabularies.
// Thread safety: pure functions and immutable tables.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace dari::tok {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the valid UTF-8 sequence starting at s[pos], or 0 if the bytes there are not a
// valid, complete sequence (overlong forms, surrogates and values above U+10FFFF are invalid).
size_t valid_utf8_len(std::string_view s, size_t pos);

// Decodes the character at s[pos]; on invalid input yields U+FFFD and *len = 1.
uint32_t decode_utf8(std::string_view s, size_t pos, size_t* len);

void append_utf8(uint32_t cp, std::string* out);

// For a valid UTF-8 prefix of a character at the end of `s`: how many trailing bytes form an
// incomplete (but so far valid) sequence. 0 when `s` ends at a character boundary.
size_t incomplete_utf8_tail(std::string_view s);

// GPT-2 byte-level mapping: byte b <-> the code point that stands for it in token texts.
struct ByteUnicodeTable {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_utf8;  // byte_to_cp encoded as UTF-8
  // cp -> byte for cp < 512 (the mapping uses U+0000..U+0143); -1 when not a byte code point.
  std::array<int16_t, 512> cp_to_byte{};
};
const ByteUnicodeTable& byte_unicode_table();

// Decodes a byte-level token text to raw bytes. Code points outside the mapping are copied as
// UTF-8 (so a vocab with stray non-byte-level texts still decodes to something readable).
std::string byte_level_decode(std::string_view text);

}  // namespace dari::tok
