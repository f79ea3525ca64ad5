// GBNF parser: a hand-written recursive-descent parser over bytes. Recursion follows groups and
// postfix operators only, both bounded by GrammarLimits::max_nesting.
#include "grammar/gbnf_parser.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "dari/core/strings.h"

namespace dari::grammar::detail {

std::string format_pos(SourcePos pos) {
  return str_format("%u:%u", pos.line, pos.column);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::vector<CodeRange> normalize_ranges(std::vector<CodeRange> ranges, bool negate) {
  constexpr uint32_t kSurLo = 0xD800, kSurHi = 0xDFFF, kMax = 0x10FFFF;
  std::sort(ranges.begin(), ranges.end(),
            [](const CodeRange& a, const CodeRange& b) { return a.lo < b.lo; });
  std::vector<CodeRange> merged;
  for (const CodeRange& r : ranges) {
    if (!merged.empty() && r.lo <= merged.back().hi + 1) {
      merged.back().hi = std::max(merged.back().hi, r.hi);
    } else {
      merged.push_back(r);
    }
  }
  if (negate) {
    std::vector<CodeRange> comp;
    uint32_t next = 0;
    for (const CodeRange& r : merged) {
      if (r.lo > next) comp.push_back({next, r.lo - 1});
      next = r.hi + 1;
    }
    if (next <= kMax) comp.push_back({next, kMax});
    merged = std::move(comp);
  }
  std::vector<CodeRange> out;
  for (const CodeRange& r : merged) {
    if (r.hi < kSurLo || r.lo > kSurHi) {
      out.push_back(r);
      continue;
    }
    if (r.lo < kSurLo) out.push_back({r.lo, kSurLo - 1});
    if (r.hi > kSurHi) out.push_back({kSurHi + 1, r.hi});
  }
  return out;
}

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  Parser(std::string_view src, const GrammarLimits& limits) : s_(src), lim_(limits) {}

  Result<Ast> run() {
    if (s_.size() > lim_.max_source_bytes) {
      return make_error(str_format("gbnf: grammar is %zu bytes, over the limit of %zu", s_.size(),
                                   lim_.max_source_bytes));
    }
    skip_ws();
    while (!eof()) {
      const SourcePos at = pos();
      std::string name = parse_name();
      if (name.empty()) {
        return fail(at, str_format("expected a rule name, found %s", describe_here().c_str()));
      }
      skip_ws();
      if (s_.substr(i_, 3) != "::=") {
        return fail(pos(), str_format("expected '::=' after rule name '%s'", name.c_str()));
      }
      advance(3);
      skip_ws();
      DARI_ASSIGN_OR_RETURN(uint32_t idx, rule_index(name, at, /*is_use=*/false));
      RuleDef& def = ast_.rules[idx];
      if (def.defined) {
        return fail(at, str_format("rule '%s' is defined twice (first at %s)", name.c_str(),
                                   format_pos(def.def_pos).c_str()));
      }
      def.defined = true;
      def.def_pos = at;
      DARI_ASSIGN_OR_RETURN(Expr body, parse_alternatives(0));
      ast_.rules[idx].body = std::move(body);
      skip_ws();
      if (!eof() && !is_name_char(peek())) {
        if (peek() == ')') return fail(pos(), "unbalanced ')'");
        return fail(pos(), str_format("unexpected %s", describe_here().c_str()));
      }
    }
    auto root = names_.find("root");
    if (root == names_.end() || !ast_.rules[root->second].defined) {
      return make_error("gbnf: no rule named 'root'");
    }
    ast_.root = root->second;
    for (const RuleDef& r : ast_.rules) {
      if (!r.defined) {
        return fail(r.first_use, str_format("undefined rule '%s'", r.name.c_str()));
      }
    }
    return std::move(ast_);
  }

 private:
  bool eof() const { return i_ >= s_.size(); }
  char peek(size_t k = 0) const { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }
  SourcePos pos() const {
    return {line_, static_cast<uint32_t>(std::min<size_t>(i_ - line_start_ + 1, UINT32_MAX))};
  }
  void advance(size_t n = 1) {
    for (size_t k = 0; k < n && i_ < s_.size(); ++k) {
      if (s_[i_] == '\n') {
        ++line_;
        line_start_ = i_ + 1;
      }
      ++i_;
    }
  }

  Error fail(SourcePos at, const std::string& what) const {
    return make_error(str_format("gbnf %s: %s", format_pos(at).c_str(), what.c_str()));
  }

  std::string describe_here() const {
    if (eof()) return "end of input";
    const unsigned char c = static_cast<unsigned char>(peek());
    if (c >= 0x21 && c < 0x7F) return str_format("'%c'", c);
    return str_format("byte 0x%02X", c);
  }

  // Whitespace, newlines and # comments.
  void skip_ws() {
    while (!eof()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (c == '#') {
        while (!eof() && peek() != '\n') advance();
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = i_;
    while (!eof() && is_name_char(peek())) advance();
    return std::string(s_.substr(start, i_ - start));
  }

  // True if a rule definition `name ::=` starts here (ends the current sequence).
  bool at_rule_start() const {
    size_t j = i_;
    while (j < s_.size() && is_name_char(s_[j])) ++j;
    if (j == i_) return false;
    while (j < s_.size()) {
      const char c = s_[j];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++j;
      } else if (c == '#') {
        while (j < s_.size() && s_[j] != '\n') ++j;
      } else {
        break;
      }
    }
    return s_.substr(j, 3) == "::=";
  }

  Result<uint32_t> rule_index(const std::string& name, SourcePos at, bool is_use) {
    auto it = names_.find(name);
    if (it != names_.end()) return it->second;
    if (ast_.rules.size() >= lim_.max_rules) {
      return fail(at, str_format("more than %u rules", lim_.max_rules));
    }
    const uint32_t idx = static_cast<uint32_t>(ast_.rules.size());
    RuleDef def;
    def.name = name;
    if (is_use) def.first_use = at;
    ast_.rules.push_back(std::move(def));
    names_.emplace(name, idx);
    return idx;
  }

  Result<Expr> parse_alternatives(uint32_t depth) {
    const SourcePos at = pos();
    std::vector<Expr> alts;
    DARI_ASSIGN_OR_RETURN(Expr first, parse_sequence(depth));
    alts.push_back(std::move(first));
    while (true) {
      skip_ws();
      if (peek() != '|' || eof()) break;
      advance();
      skip_ws();
      DARI_ASSIGN_OR_RETURN(Expr next, parse_sequence(depth));
      alts.push_back(std::move(next));
    }
    if (alts.size() == 1) return std::move(alts[0]);
    Expr e;
    e.kind = ExprKind::kAlt;
    e.pos = at;
    e.children = std::move(alts);
    return e;
  }

  Result<Expr> parse_sequence(uint32_t depth) {
    Expr seq;
    seq.kind = ExprKind::kSeq;
    seq.pos = pos();
    while (true) {
      skip_ws();
      if (eof()) break;
      const char c = peek();
      if (c == '|' || c == ')') break;
      if (is_name_char(c) && at_rule_start()) break;
      DARI_ASSIGN_OR_RETURN(Expr item, parse_postfixed(depth));
      seq.children.push_back(std::move(item));
    }
    if (seq.children.size() == 1) return std::move(seq.children[0]);
    return seq;
  }

  Result<Expr> parse_postfixed(uint32_t depth) {
    DARI_ASSIGN_OR_RETURN(Expr e, parse_primary(depth));
    uint32_t wraps = 0;
    while (true) {
      skip_ws();
      const char c = peek();
      if (eof() || (c != '*' && c != '+' && c != '?' && c != '{')) break;
      const SourcePos at = pos();
      if (depth + wraps + 1 > lim_.max_nesting) {
        return fail(at, str_format("expression nested deeper than %u", lim_.max_nesting));
      }
      ++wraps;
      uint32_t lo = 0, hi = kUnbounded;
      if (c == '*') {
        advance();
      } else if (c == '+') {
        lo = 1;
        advance();
      } else if (c == '?') {
        hi = 1;
        advance();
      } else {
        DARI_TRY(parse_braces(&lo, &hi));
      }
      Expr rep;
      rep.kind = ExprKind::kRepeat;
      rep.pos = at;
      rep.min = lo;
      rep.max = hi;
      rep.children.push_back(std::move(e));
      e = std::move(rep);
    }
    return e;
  }

  // {m} {m,} {m,n} {,n}
  Status parse_braces(uint32_t* lo, uint32_t* hi) {
    const SourcePos open = pos();
    advance();  // '{'
    auto spaces = [&] {
      while (peek() == ' ' || peek() == '\t') advance();
    };
    spaces();
    bool have_lo = false, have_hi = false, comma = false;
    uint32_t a = 0, b = 0;
    if (peek() >= '0' && peek() <= '9') {
      DARI_ASSIGN_OR_RETURN(a, parse_bound());
      have_lo = true;
    }
    spaces();
    if (peek() == ',') {
      comma = true;
      advance();
      spaces();
      if (peek() >= '0' && peek() <= '9') {
        DARI_ASSIGN_OR_RETURN(b, parse_bound());
        have_hi = true;
      }
      spaces();
    }
    if (peek() != '}') return fail(pos(), "expected '}' to close the repetition");
    advance();
    if (!have_lo && !have_hi) return fail(open, "repetition needs a bound: {m}, {m,}, {m,n}");
    *lo = have_lo ? a : 0;
    *hi = comma ? (have_hi ? b : kUnbounded) : a;
    if (*hi != kUnbounded && *lo > *hi) {
      return fail(open, str_format("repetition {%u,%u}: minimum above maximum", *lo, *hi));
    }
    return Status::Ok();
  }

  Result<uint32_t> parse_bound() {
    const SourcePos at = pos();
    uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      v = v * 10 + static_cast<uint64_t>(peek() - '0');
      if (v > lim_.max_repeat) {
        return fail(at, str_format("repetition bound over the limit of %u", lim_.max_repeat));
      }
      advance();
    }
    return static_cast<uint32_t>(v);
  }

  Result<Expr> parse_primary(uint32_t depth) {
    const SourcePos at = pos();
    const char c = peek();
    Expr e;
    e.pos = at;
    if (c == '"') {
      e.kind = ExprKind::kLiteral;
      DARI_ASSIGN_OR_RETURN(e.bytes, parse_literal());
      return e;
    }
    if (c == '[') {
      e.kind = ExprKind::kClass;
      DARI_ASSIGN_OR_RETURN(e.ranges, parse_class());
      return e;
    }
    if (c == '.') {
      advance();
      e.kind = ExprKind::kClass;
      e.ranges = normalize_ranges({}, /*negate=*/true);
      return e;
    }
    if (c == '(') {
      if (depth + 1 > lim_.max_nesting) {
        return fail(at, str_format("groups nested deeper than %u", lim_.max_nesting));
      }
      advance();
      skip_ws();
      DARI_ASSIGN_OR_RETURN(Expr inner, parse_alternatives(depth + 1));
      skip_ws();
      if (peek() != ')' || eof()) {
        return fail(pos(), str_format("expected ')' to close the group opened at %s, found %s",
                                      format_pos(at).c_str(), describe_here().c_str()));
      }
      advance();
      return inner;
    }
    if (is_name_char(c) && !eof()) {
      std::string name = parse_name();
      e.kind = ExprKind::kRef;
      DARI_ASSIGN_OR_RETURN(e.rule, rule_index(name, at, /*is_use=*/true));
      return e;
    }
    if (c == '<' && !eof()) {
      return fail(at, "token references (<...>) are not supported");
    }
    return fail(at, str_format("unexpected %s", describe_here().c_str()));
  }

  // One code point from the source (raw UTF-8 or escape); `in_class` allows class escapes.
  Result<uint32_t> parse_char() {
    const SourcePos at = pos();
    const unsigned char c = static_cast<unsigned char>(peek());
    if (c == '\\') {
      advance();
      if (eof()) return fail(at, "unterminated escape");
      const char e = peek();
      advance();
      switch (e) {
        case 'n':
          return uint32_t{'\n'};
        case 'r':
          return uint32_t{'\r'};
        case 't':
          return uint32_t{'\t'};
        case '\\':
        case '"':
        case '\'':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
          return static_cast<uint32_t>(e);
        case 'x':
          return parse_hex_escape(at, 2);
        case 'u':
          return parse_hex_escape(at, 4);
        case 'U':
          return parse_hex_escape(at, 8);
        default:
          break;
      }
      const unsigned char ue = static_cast<unsigned char>(e);
      if (ue >= 0x21 && ue < 0x7F) return fail(at, str_format("unknown escape '\\%c'", e));
      return fail(at, str_format("unknown escape (byte 0x%02X after '\\')", ue));
    }
    // Raw UTF-8.
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return fail(at, str_format("invalid UTF-8 (byte 0x%02X)", c));
    }
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(peek(k));
      if (i_ + k >= s_.size() || (cc & 0xC0) != 0x80) {
        return fail(at, "invalid UTF-8 (truncated sequence)");
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return fail(at, "invalid UTF-8 (overlong, surrogate or out of range)");
    }
    advance(len);
    return cp;
  }

  Result<uint32_t> parse_hex_escape(SourcePos at, int digits) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      const int h = hex_value(peek());
      if (h < 0 || eof()) {
        return fail(at, str_format("escape needs %d hex digits", digits));
      }
      v = (v << 4) | static_cast<uint32_t>(h);
      advance();
    }
    if (v > 0x10FFFF) return fail(at, "escape names a code point above U+10FFFF");
    if (v >= 0xD800 && v <= 0xDFFF) return fail(at, "escape names a surrogate code point");
    return v;
  }

  Result<std::string> parse_literal() {
    const SourcePos open = pos();
    advance();  // '"'
    std::string out;
    while (true) {
      if (eof()) return fail(open, "unterminated string literal");
      if (peek() == '"') {
        advance();
        return out;
      }
      DARI_ASSIGN_OR_RETURN(uint32_t cp, parse_char());
      append_utf8(out, cp);
    }
  }

  Result<std::vector<CodeRange>> parse_class() {
    const SourcePos open = pos();
    advance();  // '['
    bool negate = false;
    if (peek() == '^') {
      negate = true;
      advance();
    }
    std::vector<CodeRange> ranges;
    while (true) {
      if (eof()) return fail(open, "unterminated character class");
      if (peek() == ']') {
        advance();
        break;
      }
      const SourcePos at = pos();
      DARI_ASSIGN_OR_RETURN(uint32_t lo, parse_char());
      uint32_t hi = lo;
      if (peek() == '-' && peek(1) != ']' && i_ + 1 < s_.size()) {
        advance();
        DARI_ASSIGN_OR_RETURN(hi, parse_char());
        if (hi < lo) {
          return fail(at, str_format("character range U+%04X-U+%04X is reversed", lo, hi));
        }
      }
      ranges.push_back({lo, hi});
    }
    if (ranges.empty()) return fail(open, "empty character class");
    std::vector<CodeRange> norm = normalize_ranges(std::move(ranges), negate);
    if (norm.empty()) return fail(open, "character class matches no character");
    return norm;
  }

  std::string_view s_;
  const GrammarLimits& lim_;
  size_t i_ = 0;
  uint32_t line_ = 1;
  size_t line_start_ = 0;
  Ast ast_;
  std::unordered_map<std::string, uint32_t> names_;
};

}  // namespace

Result<Ast> parse_gbnf(std::string_view source, const GrammarLimits& limits) {
  Parser p(source, limits);
  return p.run();
}

}  // namespace dari::grammar::detail
