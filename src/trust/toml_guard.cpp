// Debian's toml++ 3.3 has two paths to undefined behaviour, both found by fuzz/fuzz_policy.cpp:
//  - a table header whose first character is neither a key character nor a quote ("[=a]",
//    "[\x7f]") fails an assertion, which under NDEBUG with clang is __builtin_assume;
//  - its non-ASCII whitespace test reaches __builtin_unreachable for most code points below
//    U+0500 and some others, and it runs on any non-ASCII character met where whitespace may
//    be: outside strings and comments, and after a backslash in a multi-line basic string.
// This scanner walks the text the way toml++ does (strings, comments, values, headers) and
// rejects those inputs before toml++ sees them. Everything it rejects is invalid TOML or (a
// non-ASCII character right after a line-ending backslash) too rare to matter in a policy.
#include "trust/toml_guard.h"

namespace dari::trust {
namespace {

bool key_start(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '"' || c == '\'';
}

bool ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

class Scanner {
 public:
  explicit Scanner(std::string_view t) : t_(t) {}
  std::string run();

 private:
  std::string_view t_;
  size_t i_ = 0;
  int line_ = 1;
  bool line_start_ = true;
  size_t depth_ = 0;  // open [ and { of values

  bool skip_string();  // false at a non-ASCII character after a backslash (multi-line)
  bool header_ok();    // at a header's '['; leaves i_ after the bracket(s)
};

bool Scanner::skip_string() {
  const char q = t_[i_];
  const bool triple = t_.substr(i_, 3) == std::string(3, q);
  i_ += triple ? 3 : 1;
  while (i_ < t_.size()) {
    if (t_[i_] == '\n') {
      if (!triple) return true;  // unterminated: toml++ reports it
      ++line_;
      ++i_;
      continue;
    }
    if (q == '"' && t_[i_] == '\\') {
      ++i_;
      if (triple) {  // toml++ classifies what follows as whitespace or not
        while (i_ < t_.size() && ascii_space(t_[i_])) line_ += t_[i_++] == '\n' ? 1 : 0;
        if (i_ < t_.size() && static_cast<unsigned char>(t_[i_]) >= 0x80) return false;
      }
      ++i_;
      continue;
    }
    if (t_[i_] == q && (!triple || t_.substr(i_, 3) == std::string(3, q))) {
      i_ += triple ? 3 : 1;
      return true;
    }
    ++i_;
  }
  return true;
}

bool Scanner::header_ok() {
  ++i_;
  if (i_ < t_.size() && t_[i_] == '[') ++i_;
  while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t')) ++i_;
  if (i_ >= t_.size()) return true;
  const auto c = static_cast<unsigned char>(t_[i_]);
  return c == ']' || key_start(c);
}

std::string Scanner::run() {
  while (i_ < t_.size()) {
    const auto c = static_cast<unsigned char>(t_[i_]);
    if (c == '\n') {
      ++i_;
      ++line_;
      line_start_ = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i_;
      continue;
    }
    if (c == '#') {
      while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      continue;
    }
    if (c >= 0x80) {
      return std::to_string(line_) + ": non-ASCII character outside a string or comment";
    }
    if (c == '"' || c == '\'') {
      line_start_ = false;
      if (!skip_string()) {
        return std::to_string(line_) +
               ": non-ASCII character after a backslash in a multi-line string";
      }
      continue;
    }
    if (c == '[' && line_start_ && depth_ == 0) {
      line_start_ = false;
      if (!header_ok()) {
        return std::to_string(line_) + ": a table header must start with a key name";
      }
      continue;
    }
    line_start_ = false;
    if (c == '[' || c == '{') ++depth_;
    if ((c == ']' || c == '}') && depth_ > 0) --depth_;
    ++i_;
  }
  return {};
}

}  // namespace

std::string toml_prescreen(std::string_view text) {
  return Scanner(text).run();
}

}  // namespace dari::trust
