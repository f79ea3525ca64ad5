// Why this exists: Debian's toml++ 3.3 reaches undefined behaviour on some malformed inputs
// instead of reporting them (found by fuzz/fuzz_policy.cpp): a failed assertion (under NDEBUG
// with clang, __builtin_assume) on table headers such as "[=a]", and __builtin_unreachable in its
// non-ASCII whitespace test, which it runs on characters it meets while recovering from several
// kinds of bad values. Rejecting the known triggers one by one kept losing to the fuzzer, so this
// file validates the whole text against the TOML 1.0 grammar first: toml++ only ever sees
// syntactically valid TOML, and semantic errors (duplicate keys, redefined tables) stay its job.
//
// The grammar accepted is TOML 1.0 minus three things no policy needs, each rejected with its own
// message: date/time values, a non-ASCII character as the first thing after a line-ending
// backslash in a multi-line basic string (toml++ classifies it with the broken test), and
// nesting deeper than kMaxDepth arrays or inline tables.
#include "trust/toml_guard.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace dari::trust {
namespace {

constexpr int kMaxDepth = 32;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}
// Characters a number, boolean or date token is made of.
bool is_token_char(char c) {
  return is_bare_key_char(c) || c == '+' || c == '.' || c == ':';
}

// digits ("_" digits)*, with `digit` deciding what a digit is. Leaves `s` after the run.
bool digit_run(std::string_view& s, bool (*digit)(char)) {
  if (s.empty() || !digit(s[0])) return false;
  size_t i = 1;
  while (i < s.size()) {
    if (digit(s[i])) {
      ++i;
    } else if (s[i] == '_' && i + 1 < s.size() && digit(s[i + 1])) {
      i += 2;
    } else {
      break;
    }
  }
  s.remove_prefix(i);
  return true;
}

bool is_oct(char c) {
  return c >= '0' && c <= '7';
}
bool is_bin(char c) {
  return c == '0' || c == '1';
}

// TOML integers and floats (decimal, 0x/0o/0b, exponents, inf, nan).
bool valid_number(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
    const char base = s[1];
    s.remove_prefix(2);
    const bool ok = digit_run(s, base == 'x' ? is_hex : base == 'o' ? is_oct : is_bin);
    return ok && s.empty();
  }
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (s == "inf" || s == "nan") return true;
  if (s.size() > 1 && s[0] == '0' && is_digit(s[1])) return false;  // leading zero
  if (!digit_run(s, is_digit)) return false;
  if (!s.empty() && s[0] == '.') {
    s.remove_prefix(1);
    if (!digit_run(s, is_digit)) return false;
  }
  if (!s.empty() && (s[0] == 'e' || s[0] == 'E')) {
    s.remove_prefix(1);
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
    if (!digit_run(s, is_digit)) return false;
  }
  return s.empty();
}

class Validator {
 public:
  explicit Validator(std::string_view t) : t_(t) {}
  std::string run();

 private:
  std::string_view t_;
  size_t i_ = 0;
  int line_ = 1;
  size_t line_begin_ = 0;  // offset of the current line's first byte
  int depth_ = 0;          // open arrays and inline tables
  std::string err_;

  bool fail(const std::string& what);
  char peek(size_t ahead = 0) const { return i_ + ahead < t_.size() ? t_[i_ + ahead] : '\0'; }
  bool at_end() const { return i_ >= t_.size(); }
  bool starts_with(std::string_view s) const { return t_.substr(i_, s.size()) == s; }

  void skip_blanks();  // spaces and tabs
  bool newline();      // consumes "\n" or "\r\n"
  bool comment();      // at '#': up to (not including) the newline
  bool line_end();     // blanks, an optional comment, then a newline or the end
  bool gap();          // blanks, comments and newlines (inside arrays)
  bool text_char();    // one character of a string or comment: UTF-8, no control characters
  bool expression();   // one line's table header or key/value pair
  bool header();
  bool key();
  bool simple_key();
  bool keyval();
  bool value();
  bool array();
  bool inline_table();
  bool basic_string();
  bool literal_string();
  bool escape(bool multi_line);
  bool token();
};

bool Validator::fail(const std::string& what) {
  if (err_.empty()) {
    err_ = std::to_string(line_) + ":" + std::to_string(i_ - line_begin_ + 1) + ": " + what;
  }
  return false;
}

void Validator::skip_blanks() {
  while (peek() == ' ' || peek() == '\t') ++i_;
}

bool Validator::newline() {
  if (peek() == '\r' && peek(1) == '\n') ++i_;
  if (peek() != '\n') return false;
  ++i_;
  ++line_;
  line_begin_ = i_;
  return true;
}

bool Validator::text_char() {
  const auto c = static_cast<unsigned char>(peek());
  if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
    ++i_;
    return true;
  }
  if (c < 0x80) return fail("control character (byte " + std::to_string(c) + ") in text");
  // UTF-8: length from the lead byte, then continuation bytes, then the decoded range.
  const int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
  if (n == 0 || c > 0xf4) return fail("invalid UTF-8");
  uint32_t cp = c & (0x7f >> n);
  for (int k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(peek(static_cast<size_t>(k)));
    if ((d & 0xc0) != 0x80) return fail("invalid UTF-8");
    cp = (cp << 6) | (d & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return fail("invalid UTF-8");
  }
  i_ += static_cast<size_t>(n);
  return true;
}

bool Validator::comment() {
  ++i_;  // '#'
  while (!at_end() && peek() != '\n' && !(peek() == '\r' && peek(1) == '\n')) {
    if (!text_char()) return false;
  }
  return true;
}

bool Validator::line_end() {
  skip_blanks();
  if (peek() == '#' && !comment()) return false;
  if (at_end() || newline()) return true;
  return fail("expected the end of the line");
}

bool Validator::gap() {
  for (;;) {
    skip_blanks();
    if (peek() == '#') {
      if (!comment()) return false;
    } else if (!newline()) {
      return true;
    }
  }
}

bool Validator::escape(bool multi_line) {
  ++i_;  // '\'
  const char c = peek();
  if (multi_line) {
    size_t j = i_;
    while (j < t_.size() && (t_[j] == ' ' || t_[j] == '\t')) ++j;
    if (j < t_.size() && (t_[j] == '\n' || t_[j] == '\r')) {  // line-ending backslash
      i_ = j;
      if (!newline()) return fail("bare carriage return");
      for (;;) {
        skip_blanks();
        if (!newline()) break;
      }
      if (static_cast<unsigned char>(peek()) >= 0x80) {
        return fail("a non-ASCII character right after a line-ending backslash");
      }
      return true;
    }
  }
  if (c == 'b' || c == 't' || c == 'n' || c == 'f' || c == 'r' || c == '"' || c == '\\') {
    ++i_;
    return true;
  }
  if (c == 'u' || c == 'U') {
    const size_t n = c == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (size_t k = 1; k <= n; ++k) {
      const char h = peek(k);
      if (!is_hex(h))
        return fail("\\" + std::string(1, c) + " needs " + std::to_string(n) + " hex digits");
      cp = cp * 16 + static_cast<uint32_t>(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
      if (cp > 0x10ffff) break;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return fail("escape is not a Unicode scalar value");
    }
    i_ += n + 1;
    return true;
  }
  return fail("unknown escape sequence");
}

bool Validator::basic_string() {
  const bool multi = starts_with("\"\"\"");
  i_ += multi ? 3 : 1;
  if (multi) newline();  // a newline right after the opening quotes is trimmed
  for (;;) {
    if (at_end()) return fail("unterminated string");
    const char c = peek();
    if (c == '"') {
      if (!multi) {
        ++i_;
        return true;
      }
      size_t run = 0;
      while (peek(run) == '"') ++run;
      if (run >= 3) {
        if (run > 5) return fail("too many quotes at the end of a multi-line string");
        i_ += run;
        return true;
      }
      i_ += run;
    } else if (c == '\\') {
      if (!escape(multi)) return false;
    } else if (c == '\n' || c == '\r') {
      if (!multi) return fail("unterminated string");
      if (!newline()) return fail("bare carriage return");
    } else if (!text_char()) {
      return false;
    }
  }
}

bool Validator::literal_string() {
  const bool multi = starts_with("'''");
  i_ += multi ? 3 : 1;
  if (multi) newline();
  for (;;) {
    if (at_end()) return fail("unterminated string");
    const char c = peek();
    if (c == '\'') {
      if (!multi) {
        ++i_;
        return true;
      }
      size_t run = 0;
      while (peek(run) == '\'') ++run;
      if (run >= 3) {
        if (run > 5) return fail("too many quotes at the end of a multi-line string");
        i_ += run;
        return true;
      }
      i_ += run;
    } else if (c == '\n' || c == '\r') {
      if (!multi) return fail("unterminated string");
      if (!newline()) return fail("bare carriage return");
    } else if (!text_char()) {
      return false;
    }
  }
}

bool Validator::simple_key() {
  const char c = peek();
  if (c == '"' || c == '\'') {
    if (starts_with("\"\"\"") || starts_with("'''")) {
      return fail("a key cannot be a multi-line string");
    }
    return c == '"' ? basic_string() : literal_string();
  }
  if (!is_bare_key_char(c)) return fail("expected a key");
  while (is_bare_key_char(peek())) ++i_;
  return true;
}

bool Validator::key() {
  for (;;) {
    if (!simple_key()) return false;
    skip_blanks();
    if (peek() != '.') return true;
    ++i_;
    skip_blanks();
  }
}

bool Validator::header() {
  const bool array_of_tables = starts_with("[[");
  i_ += array_of_tables ? 2 : 1;
  skip_blanks();
  if (!key()) return false;
  if (!starts_with(array_of_tables ? "]]" : "]")) {
    return fail(array_of_tables ? "expected ']]'" : "expected ']'");
  }
  i_ += array_of_tables ? 2 : 1;
  return true;
}

bool Validator::keyval() {
  if (!key()) return false;
  if (peek() != '=') return fail("expected '=' after the key");
  ++i_;
  skip_blanks();
  return value();
}

bool Validator::token() {
  const size_t start = i_;
  while (is_token_char(peek())) ++i_;
  const std::string_view tok = t_.substr(start, i_ - start);
  if (tok.empty()) {
    i_ = start;
    return fail("expected a value");
  }
  if (tok == "true" || tok == "false" || valid_number(tok)) return true;
  i_ = start;
  if (tok.size() >= 5 && is_digit(tok[0]) && (tok[4] == '-' || tok[2] == ':')) {
    return fail("date and time values are not used in policy files");
  }
  return fail("invalid value '" + std::string(tok.substr(0, 40)) + "'");
}

bool Validator::value() {
  const char c = peek();
  if (c == '"') return basic_string();
  if (c == '\'') return literal_string();
  if (c == '[' || c == '{') {
    if (depth_ >= kMaxDepth) return fail("arrays or inline tables nested too deeply");
    ++depth_;
    const bool ok = c == '[' ? array() : inline_table();
    --depth_;
    return ok;
  }
  return token();
}

bool Validator::array() {
  ++i_;  // '['
  for (;;) {
    if (!gap()) return false;
    if (peek() == ']') break;
    if (!value() || !gap()) return false;
    if (peek() == ']') break;
    if (peek() != ',') return fail("expected ',' or ']' in the array");
    ++i_;
  }
  ++i_;  // ']'
  return true;
}

bool Validator::inline_table() {
  ++i_;  // '{'
  skip_blanks();
  if (peek() != '}') {
    for (;;) {
      if (!keyval()) return false;
      skip_blanks();
      if (peek() == '}') break;
      if (peek() != ',') return fail("expected ',' or '}' in the inline table");
      ++i_;
      skip_blanks();
    }
  }
  ++i_;  // '}'
  return true;
}

bool Validator::expression() {
  skip_blanks();
  if (peek() == '[') return header() && line_end();
  if (peek() == '#' || peek() == '\n' || peek() == '\r' || at_end()) return line_end();
  return keyval() && line_end();
}

std::string Validator::run() {
  if (starts_with("\xef\xbb\xbf")) i_ = 3;  // a byte order mark
  while (!at_end()) {
    if (!expression()) return err_;  // every failing path has called fail()
  }
  return {};
}

}  // namespace

std::string toml_prescreen(std::string_view text) {
  return Validator(text).run();
}

}  // namespace dari::trust
