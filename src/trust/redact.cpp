// PII redaction with PCRE2 (UTF mode). Order matters: resident registration numbers first (a
// 13-digit run must not be taken for a phone number), then e-mail addresses, then phones.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "dari/trust/trust.h"

namespace dari::trust {
namespace {

struct Pattern {
  const char* regex;
  const char* replacement;
};

// Korean RRN: YYMMDD-GNNNNNN (G = 1..8), hyphen optional.
// E-mail: local@domain.tld.
// Phones: Korean mobile/landline (010-1234-5678, 02-123-4567, 031-123-4567, +82 10 1234 5678,
// 1588-1234 service numbers) and international "+CC ..." numbers.
constexpr Pattern kPatterns[] = {
    {R"((?<![0-9])[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[- ]?[1-8][0-9]{6}(?![0-9]))",
     "[RRN]"},
    {R"([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})", "[EMAIL]"},
    {R"((?<![0-9+])(?:\+82[- .]?\(?0?\)?(?:1[016789]|[2-6][0-9]?)|0(?:1[016789]|2|[3-6][0-9]|70|50[0-9]))[- .)]?[0-9]{3,4}[- .]?[0-9]{4}(?![0-9]))",
     "[PHONE]"},
    {R"((?<![0-9])1[5-9][0-9]{2}-[0-9]{4}(?![0-9]))", "[PHONE]"},
    {R"((?<![0-9A-Za-z])\+[1-9][0-9]{0,2}[- .]?(?:\(?[0-9]{1,4}\)?[- .]?){1,3}[0-9]{3,4}(?![0-9]))",
     "[PHONE]"},
};

struct Compiled {
  std::unique_ptr<pcre2_code, decltype(&pcre2_code_free)> code{nullptr, &pcre2_code_free};
  const char* replacement = "";
};

const std::vector<Compiled>& compiled() {
  static const std::vector<Compiled> all = [] {
    std::vector<Compiled> v;
    for (const Pattern& p : kPatterns) {
      int err = 0;
      PCRE2_SIZE off = 0;
      Compiled c;
      c.code.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.regex), PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr));
      DARI_CHECK(c.code != nullptr);
      pcre2_jit_compile(c.code.get(), PCRE2_JIT_COMPLETE);
      c.replacement = p.replacement;
      v.push_back(std::move(c));
    }
    return v;
  }();
  return all;
}

std::string replace_all(const Compiled& c, const std::string& in) {
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(c.code.get(), nullptr), &pcre2_match_data_free);
  std::string out;
  size_t pos = 0;
  while (pos <= in.size()) {
    int rc = pcre2_match(c.code.get(), reinterpret_cast<PCRE2_SPTR>(in.data()), in.size(), pos, 0,
                         md.get(), nullptr);
    if (rc < 0) break;
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    out.append(in, pos, ov[0] - pos);
    out += c.replacement;
    pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    if (ov[1] == ov[0] && ov[0] < in.size()) out += in[ov[0]];
  }
  if (pos < in.size()) out.append(in, pos, std::string::npos);
  return out;
}

}  // namespace

std::string redact_pii(std::string_view text) {
  std::string s(text);
  for (const Compiled& c : compiled()) s = replace_all(c, s);
  return s;
}

}  // namespace dari::trust
