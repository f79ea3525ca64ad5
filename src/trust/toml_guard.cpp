// Debian's toml++ 3.3 has two paths to undefined behaviour, both found by fuzz/fuzz_policy.cpp:
//  - a table header whose first character is neither a key character nor a quote ("[=a]",
//    "[\x7f]") fails an assertion, which under NDEBUG with clang is __builtin_assume;
//  - its non-ASCII whitespace test reaches __builtin_unreachable for most code points below
//    U+0500 and some others, and it runs on any non-ASCII character met where whitespace may
//    be: outside strings and comments, and after a backslash in a multi-line basic string.
// This scanner walks the text the way toml++ does (strings, comments, values, headers) and
// rejects those inputs before toml++ sees them. It fails closed: a quote counts as the start of a
// string only where TOML allows one (a key at the start of a line or after '.', '{' or ',', a
// value after '=', '[' or ','); anywhere else (e.g. `a = 0"x`, where toml++ reads on through
// the would-be string classifying characters) the input is rejected. Everything it rejects is
// invalid TOML or (a non-ASCII character right after a line-ending backslash) too rare to matter
// in a policy.
#include "trust/toml_guard.h"

#include <string>
#include <string_view>

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
  std::string open_;  // which ones, innermost last
  char prev_ = 0;     // last significant character outside strings and comments on this line

  bool skip_string();  // false at a non-ASCII character after a backslash (multi-line)
  // The next significant character after i_ (spaces and tabs skipped; with multi_line also
  // newlines and comments), or 0 at the end.
  char next_significant(bool multi_line) const;
  // After the punctuation c at i_: false when what follows cannot start what TOML expects there
  // (a value after '=' or inside an array, a key inside an inline table). toml++ asserts on some
  // of these instead of reporting them.
  bool follower_ok(char c) const;
  bool header_ok();  // at a header's '['; leaves i_ after the bracket(s)
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

char Scanner::next_significant(bool multi_line) const {
  size_t j = i_ + 1;
  while (j < t_.size()) {
    const char d = t_[j];
    if (d == ' ' || d == '\t' || d == '\r' || (multi_line && d == '\n')) {
      ++j;
    } else if (multi_line && d == '#') {
      while (j < t_.size() && t_[j] != '\n') ++j;
    } else {
      return d;
    }
  }
  return 0;
}

bool Scanner::follower_ok(char c) const {
  const char top = depth_ == 0 ? 0 : open_.back();
  const auto bad = [](char d, std::string_view set) {
    return set.find(d) != std::string_view::npos;
  };
  if (c == '=') {
    const char d = next_significant(false);
    return d != 0 && !bad(d, ",]}#\n");
  }
  if (c == '[') return !bad(next_significant(true), ",}");
  if (c == '{') return !bad(next_significant(false), ",]");
  if (c == ',' && top == '[') return !bad(next_significant(true), ",}");
  if (c == ',' && top == '{') return !bad(next_significant(false), ",}]");
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
      prev_ = 0;
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
      const bool may_open = line_start_ || prev_ == '=' || prev_ == '[' || prev_ == ',' ||
                            prev_ == '{' || prev_ == '.' || (depth_ > 0 && prev_ == 0);
      if (!may_open) {
        return std::to_string(line_) + ": a quote where no string can start";
      }
      line_start_ = false;
      prev_ = '"';
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
      prev_ = '.';  // a quoted key may follow (header_ok leaves i_ on the key)
      continue;
    }
    line_start_ = false;
    prev_ = static_cast<char>(c);
    if (!follower_ok(static_cast<char>(c))) {
      return std::to_string(line_) + ": a value or key is missing after '" +
             std::string(1, static_cast<char>(c)) + "'";
    }
    if (c == '[' || c == '{') {
      ++depth_;
      open_.push_back(static_cast<char>(c));
    }
    if ((c == ']' || c == '}') && depth_ > 0) {
      --depth_;
      open_.pop_back();
    }
    ++i_;
  }
  return {};
}

}  // namespace

std::string toml_prescreen(std::string_view text) {
  return Scanner(text).run();
}

}  // namespace dari::trust
