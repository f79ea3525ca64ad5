#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include "dari/core/strings.h"

namespace dari::tok {

namespace {

// Hugging Face's GPT-2 ByteLevel split, also used by MPT, GPT-NeoX, StarCoder, Falcon.
constexpr const char* kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

// cl100k-style split of Llama 3 (digits in groups of up to 3) and Qwen2 (single digits).
constexpr const char* kLlama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// DeepSeek LLM: letters are the explicit cased-letter ranges of its tokenizer.json.
// (Written as code points: several of its characters are not NFC-stable and would be changed
// by editors.)
constexpr const char* kDeepseekLetters =
    "\\s?["
    "\\x{41}-\\x{5A}\\x{61}-\\x{7A}\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"
    "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}-"
    "\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}"
    "\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-"
    "\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-"
    "\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-"
    "\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-"
    "\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-"
    "\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}"
    "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}"
    "\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}-\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-"
    "\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}-\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-"
    "\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-"
    "\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-"
    "\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-"
    "\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
    "]+";
constexpr const char* kDeepseekPunct =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+";
constexpr const char* kCjk = "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

}  // namespace

Result<PreTokenizerSpec> pretokenizer_spec(std::string_view pre) {
  auto is = [&](std::initializer_list<std::string_view> names) {
    for (std::string_view n : names) {
      if (pre == n) return true;
    }
    return false;
  };
  PreTokenizerSpec s;
  if (is({"llama3", "llama-v3", "llama-bpe", "falcon3"})) {
    s.patterns = {kLlama3};
    s.ignore_merges = true;
  } else if (is({"dbrx", "smaug-bpe"})) {
    s.patterns = {kLlama3};
  } else if (is({"qwen2", "stablelm2", "deepseek-r1-qwen"})) {
    s.patterns = {kQwen2};
  } else if (is({"deepseek-llm"})) {
    s.patterns = {"[\\r\\n]", kDeepseekLetters, kDeepseekPunct, "\\s+$", kCjk, "\\p{N}+"};
  } else if (is({"deepseek-coder"})) {
    s.patterns = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"};
  } else if (is({"falcon"})) {
    s.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"};
  } else if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva"})) {
    s.patterns = {"\\p{N}", kGpt2};
  } else if (is({"gpt-2", "gpt2", "mpt", "olmo", "jais", "gpt-neox"})) {
    s.patterns = {kGpt2};
  } else if (is({"default", ""})) {
    s.patterns = {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  } else {
    return make_error(str_format("tokenizer.ggml.pre: unsupported BPE pre-tokenizer '%s'",
                                 printable(pre).c_str()));
  }
  return s;
}

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
};

Result<std::unique_ptr<RegexSplitter>> RegexSplitter::create(
    const std::vector<std::string>& patterns) {
  std::unique_ptr<RegexSplitter> splitter(new RegexSplitter());
  for (const std::string& p : patterns) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    const uint32_t flags =
        PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(), flags,
                                     &err, &err_off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return make_error(str_format("pre-tokenizer regex '%s': offset %zu: %s",
                                   printable(p).c_str(), static_cast<size_t>(err_off),
                                   reinterpret_cast<const char*>(msg)));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
    splitter->codes_.push_back(Compiled{code});
  }
  return splitter;
}

RegexSplitter::~RegexSplitter() {
  for (Compiled& c : codes_) pcre2_code_free(c.code);
}

namespace {

// Splits `text` by `code` into matches and gaps, appending to *out.
void split_one(const pcre2_code* code, pcre2_match_data* md, std::string_view text,
               std::vector<std::string_view>* out) {
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;  // first byte not yet emitted
  size_t pos = 0;    // where the next search begins
  while (pos < text.size()) {
    const int rc = pcre2_match(code, subject, text.size(), pos, 0, md, nullptr);
    if (rc < 0) break;  // no match (or a matching error): the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t m_begin = ov[0];
    const size_t m_end = ov[1];
    if (m_begin < start || m_end > text.size() || m_end < m_begin) break;
    if (m_end == m_begin) {  // empty match: step over one byte and keep searching
      pos = m_begin + 1;
      continue;
    }
    if (m_begin > start) out->push_back(text.substr(start, m_begin - start));
    out->push_back(text.substr(m_begin, m_end - m_begin));
    start = pos = m_end;
  }
  if (start < text.size()) out->push_back(text.substr(start));
}

}  // namespace

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>* pieces) const {
  if (text.empty()) return;
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  if (md == nullptr) {  // out of memory: degrade to one piece rather than fail
    pieces->push_back(text);
    return;
  }
  std::vector<std::string_view> cur{text};
  std::vector<std::string_view> next;
  for (const Compiled& c : codes_) {
    next.clear();
    for (std::string_view piece : cur) split_one(c.code, md, piece, &next);
    cur.swap(next);
  }
  pcre2_match_data_free(md);
  pieces->insert(pieces->end(), cur.begin(), cur.end());
}

}  // namespace dari::tok
