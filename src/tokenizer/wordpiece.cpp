// WordPiece encoding (`tokenizer.ggml.model = bert`), as BERT's uncased basic tokenizer plus
// greedy longest-match-first sub-word lookup.
//
// Normalisation: control characters, NUL and U+FFFD (which invalid UTF-8 decodes to) are dropped;
// whitespace separates words; text is NFD-decomposed, non-spacing marks (accents) are removed and
// letters lower-cased; punctuation, ASCII symbols and CJK ideographs become one-character words.
// This is lossy by design, so decode(encode(x)) != x for BERT.
//
// Accent stripping follows Hugging Face's BasicTokenizer (strip_accents / do_lower_case): after
// NFD only code points of category Mn (non-spacing marks) are removed. Hangul syllables decompose
// into conjoining jamo, which are letters (Lo), so all of them stay: 대통령은 is looked up as
// ᄃ ᅢ ᄐ ᅩ ᆼ ᄅ ᅧ ᆼ ᄋ ᅳ ᆫ. llama.cpp (b4748) differs: its NFD table keeps only the first code
// point of each decomposition, so it drops the vowels and final consonants (ᄃ ᄐ ᄅ ᄋ). dari
// deliberately keeps the Hugging Face behaviour (tests: TokenizerBert.*; docs/TOKENIZER.md).
//
// GGUF BERT vocabs (as written by llama.cpp's converter) mark word-initial pieces with a U+2581
// prefix and store "##" continuation pieces without the "##".
#include <utf8proc.h>

#include "tokenizer/impl.h"
#include "tokenizer/utf8.h"

namespace dari {

namespace {

constexpr size_t kMaxWordChars = 100;  // longer words become [UNK], as in BERT

bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_whitespace(uint32_t cp) {
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') return true;
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_ZS;
}

bool is_control(uint32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

bool is_punctuation(uint32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126)) {
    return true;
  }
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

// Splits normalised text into words (each a UTF-8 string).
std::vector<std::string> basic_tokenize(std::string_view text) {
  std::vector<std::string> words(1);
  auto end_word = [&] {
    if (!words.back().empty()) words.emplace_back();
  };
  for (size_t pos = 0; pos < text.size();) {
    size_t len = 0;
    const uint32_t cp = tok::decode_utf8(text, pos, &len);
    pos += len;
    if (cp == 0 || cp == tok::kReplacementChar || is_control(cp)) continue;
    if (is_whitespace(cp)) {
      end_word();
      continue;
    }
    utf8proc_int32_t decomposed[16];
    utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), decomposed,
                                                 16, UTF8PROC_DECOMPOSE, nullptr);
    if (n <= 0 || n > 16) {
      decomposed[0] = static_cast<utf8proc_int32_t>(cp);
      n = 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; ++i) {
      const auto c = static_cast<uint32_t>(decomposed[i]);
      if (utf8proc_category(decomposed[i]) == UTF8PROC_CATEGORY_MN) continue;  // strip accents
      const auto lower = static_cast<uint32_t>(utf8proc_tolower(decomposed[i]));
      if (is_punctuation(c) || is_cjk(c)) {
        end_word();
        tok::append_utf8(lower, &words.back());
        words.emplace_back();
      } else {
        tok::append_utf8(lower, &words.back());
      }
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

// Greedy longest-match-first over one word; false when some part matches no token.
bool match_word(const TokenizerImpl& t, std::string_view word, std::vector<TokenId>* out) {
  // GGUF form: the word with a U+2581 prefix is cut into tokens as they are. HF form: pieces
  // after the first are looked up with a "##" prefix.
  std::string w;
  if (!t.wordpiece_hash_prefix) w = "\xE2\x96\x81";
  w.append(word);
  std::string probe;
  for (size_t i = 0; i < w.size();) {
    bool matched = false;
    const size_t max_end = std::min(w.size(), i + t.max_token_bytes);
    for (size_t j = max_end; j > i; --j) {
      std::string_view part = std::string_view(w).substr(i, j - i);
      if (t.wordpiece_hash_prefix && i > 0) {
        probe.assign("##");
        probe.append(part);
        part = probe;
      }
      const TokenId id = t.find(part);
      if (id != kNoToken) {
        out->push_back(id);
        i = j;
        matched = true;
        break;
      }
    }
    if (!matched) return false;
  }
  return true;
}

}  // namespace

void wordpiece_encode(const TokenizerImpl& t, std::string_view text, std::vector<TokenId>* out) {
  for (const std::string& word : basic_tokenize(text)) {
    const size_t start = out->size();
    if (count_chars(word) > kMaxWordChars || !match_word(t, word, out)) {
      out->resize(start);
      if (t.unk != kNoToken) out->push_back(t.unk);
    }
  }
}

}  // namespace dari
