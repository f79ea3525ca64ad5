// Helpers shared by the grammar tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dari/grammar/grammar.h"
#include "dari/grammar/matcher.h"
#include "dari/grammar/vocabulary.h"

namespace dari::grammar::testing {

inline std::shared_ptr<const Grammar> must_compile(std::string_view text,
                                                   const GrammarLimits& limits = {}) {
  auto g = compile_gbnf(text, limits);
  EXPECT_TRUE(g.ok()) << (g.ok() ? "" : g.message()) << "\n--- grammar:\n" << text;
  if (!g.ok()) return nullptr;
  return *g;
}

// Tokens 0..255 are the single bytes, 256 is end-of-generation.
inline std::shared_ptr<const Vocabulary> byte_vocab() {
  std::vector<std::string> toks;
  for (int b = 0; b < 256; ++b) toks.emplace_back(1, static_cast<char>(b));
  toks.emplace_back();
  return *Vocabulary::create(std::move(toks), {256});
}

inline std::shared_ptr<const Vocabulary> make_vocab(std::vector<std::string> toks,
                                                    std::vector<int32_t> eog) {
  auto v = Vocabulary::create(std::move(toks), std::move(eog));
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.message());
  return *v;
}

// The whole text is a sentence of the grammar.
inline bool full_match(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  auto m = Matcher::create(g, byte_vocab());
  if (!m.ok()) return false;
  return m->accept_bytes(text) && m->can_end();
}

// The text is a prefix of some sentence.
inline bool prefix_match(const std::shared_ptr<const Grammar>& g, std::string_view text) {
  auto m = Matcher::create(g, byte_vocab());
  if (!m.ok()) return false;
  return m->accept_bytes(text);
}

inline std::vector<uint64_t> mask_of(Matcher& m, const Vocabulary& v) {
  std::vector<uint64_t> bits(v.mask_words());
  Status st = m.fill_mask(bits);
  EXPECT_TRUE(st.ok()) << st.message();
  return bits;
}

// Reference mask: each token tried on a copy of the matcher.
inline std::vector<uint64_t> brute_force_mask(const Matcher& m, const Vocabulary& v) {
  std::vector<uint64_t> bits(v.mask_words(), 0);
  for (size_t t = 0; t < v.size(); ++t) {
    Matcher copy = m;
    if (copy.accept(static_cast<int32_t>(t))) bits[t / 64] |= uint64_t{1} << (t % 64);
  }
  return bits;
}

inline bool bit(const std::vector<uint64_t>& bits, size_t t) {
  return (bits[t / 64] >> (t % 64)) & 1;
}

inline std::string mask_diff(const std::vector<uint64_t>& got, const std::vector<uint64_t>& want,
                             const Vocabulary& v) {
  std::string out;
  for (size_t t = 0; t < v.size(); ++t) {
    if (bit(got, t) == bit(want, t)) continue;
    out += (bit(got, t) ? "  extra " : "  missing ") + std::to_string(t) + " '";
    for (char c : v.token(static_cast<int32_t>(t))) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x20 && u < 0x7F) {
        out += c;
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02X", u);
        out += buf;
      }
    }
    out += "'\n";
    if (out.size() > 2000) break;
  }
  return out;
}

}  // namespace dari::grammar::testing
