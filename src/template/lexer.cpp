// Jinja lexer (see lexer.h).
#include "template/lexer.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include "dari/core/strings.h"
#include "template/value.h"

namespace dari::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string src, const LexOptions& opt) : src_(std::move(src)), opt_(opt) {}

  Result<std::vector<Token>> run() {
    try {
      lex_all();
    } catch (const TemplateError& e) {
      return make_error(str_format("line %d, column %d: %s", e.line, e.col, e.message.c_str()));
    }
    Token eof;
    eof.type = TokenType::kEof;
    set_pos(eof, pos_);
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error_at(size_t pos, const std::string& msg) {
    int line = 1, col = 1;
    position(pos, line, col);
    throw TemplateError{msg, line, col};
  }

  void position(size_t pos, int& line, int& col) {
    // Incremental: positions are requested in increasing order almost always.
    if (pos < lc_pos_) {
      lc_pos_ = 0;
      lc_line_ = 1;
      lc_col_ = 1;
    }
    for (; lc_pos_ < pos && lc_pos_ < src_.size(); ++lc_pos_) {
      if (src_[lc_pos_] == '\n') {
        ++lc_line_;
        lc_col_ = 1;
      } else {
        ++lc_col_;
      }
    }
    line = lc_line_;
    col = lc_col_;
  }
  void set_pos(Token& t, size_t pos) { position(pos, t.line, t.col); }

  void push(TokenType type, std::string text, size_t pos) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    set_pos(t, pos);
    tokens_.push_back(std::move(t));
  }

  // Finds the next "{{", "{%" or "{#" at or after `from`.
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  // Applies `-` / lstrip_blocks to the text that precedes a tag.
  std::string strip_before(std::string text, char sign, bool is_var) {
    if (sign == '-') {
      size_t end = text.size();
      while (end > 0 && is_space(text[end - 1])) --end;
      text.resize(end);
    } else if (sign != '+' && opt_.lstrip_blocks && !is_var) {
      size_t nl = text.rfind('\n');
      size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        bool all_ws = l_pos < text.size();
        for (size_t i = l_pos; i < text.size(); ++i)
          if (!is_space(text[i])) all_ws = false;
        if (all_ws) text.resize(l_pos);
      }
    }
    return text;
  }

  // Matches a raw-begin tag at `pos` ("{%[-+]? raw [-]?%}"); returns its end or npos.
  size_t match_word_tag(size_t pos, const char* word, char* sign_out, bool* strip_after) const {
    size_t i = pos + 2;
    char sign = 0;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) sign = src_[i++];
    while (i < src_.size() && is_space(src_[i])) ++i;
    std::string w(word);
    if (src_.compare(i, w.size(), w) != 0) return std::string::npos;
    i += w.size();
    if (i < src_.size() && is_name_char(src_[i])) return std::string::npos;
    while (i < src_.size() && is_space(src_[i])) ++i;
    bool minus = false;
    if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) minus = src_[i++] == '-';
    if (src_.compare(i, 2, "%}") != 0) return std::string::npos;
    if (sign_out) *sign_out = sign;
    if (strip_after) *strip_after = minus;
    return i + 2;
  }

  size_t skip_ws(size_t i) const {
    while (i < src_.size() && is_space(src_[i])) ++i;
    return i;
  }

  void lex_all() {
    while (pos_ < src_.size()) {
      size_t tag = find_tag(pos_);
      if (tag == std::string::npos) {
        push(TokenType::kText, src_.substr(pos_), pos_);
        pos_ = src_.size();
        return;
      }
      char kind = src_[tag + 1];
      char sign = 0;
      if (tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')) sign = src_[tag + 2];
      std::string text = src_.substr(pos_, tag - pos_);
      char raw_sign = 0;
      bool raw_strip_after = false;
      size_t raw_end = kind == '%' ? match_word_tag(tag, "raw", &raw_sign, &raw_strip_after)
                                   : std::string::npos;
      if (raw_end != std::string::npos) sign = raw_sign;
      text = strip_before(std::move(text), sign, kind == '{');
      if (!text.empty()) push(TokenType::kText, std::move(text), pos_);
      line_starting_ = false;
      if (raw_end != std::string::npos) {
        lex_raw(tag, raw_end, raw_strip_after);
      } else if (kind == '#') {
        lex_comment(tag);
      } else {
        lex_tag(tag, kind == '{', sign != 0);
      }
    }
  }

  void lex_raw(size_t tag, size_t body, bool strip_after) {
    if (strip_after) body = skip_ws(body);
    for (size_t i = body;; ++i) {
      i = src_.find("{%", i);
      if (i == std::string::npos) error_at(tag, "unterminated raw block (missing endraw)");
      char sign = 0;
      bool minus_after = false;
      size_t end = match_word_tag(i, "endraw", &sign, &minus_after);
      if (end == std::string::npos) continue;
      std::string text = strip_before(src_.substr(body, i - body), sign, false);
      if (!text.empty()) push(TokenType::kText, std::move(text), body);
      pos_ = end;
      finish_block_end(minus_after, false);
      return;
    }
  }

  // After a `%}` or `#}`: `-` strips all following whitespace, trim_blocks one newline.
  void finish_block_end(bool minus, bool plus) {
    size_t start = pos_;
    if (minus) {
      pos_ = skip_ws(pos_);
    } else if (!plus && opt_.trim_blocks && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    line_starting_ = pos_ > start ? src_[pos_ - 1] == '\n' : false;
  }

  void lex_comment(size_t tag) {
    size_t i = src_.find("#}", tag + 2);
    if (i == std::string::npos) error_at(tag, "unterminated comment (missing '#}')");
    bool minus = i > tag + 2 && src_[i - 1] == '-';
    bool plus = i > tag + 2 && src_[i - 1] == '+';
    pos_ = i + 2;
    finish_block_end(minus, plus);
  }

  void lex_tag(size_t tag, bool is_var, bool has_sign) {
    push(is_var ? TokenType::kVarBegin : TokenType::kBlockBegin, "", tag);
    size_t i = tag + 2 + (has_sign ? 1 : 0);
    int depth = 0;
    const char close = is_var ? '}' : '%';
    while (true) {
      i = skip_ws(i);
      if (i >= src_.size())
        error_at(tag, is_var ? "unexpected end of template, expected '}}'"
                             : "unexpected end of template, expected '%}'");
      if (depth == 0) {
        bool minus = src_[i] == '-' && src_.compare(i + 1, 2, std::string(1, close) + "}") == 0;
        bool plus = src_[i] == '+' && src_.compare(i + 1, 2, std::string(1, close) + "}") == 0;
        if (minus || plus || src_.compare(i, 2, std::string(1, close) + "}") == 0) {
          push(is_var ? TokenType::kVarEnd : TokenType::kBlockEnd, "", i);
          pos_ = i + 2 + ((minus || plus) ? 1 : 0);
          if (is_var) {
            size_t start = pos_;
            if (minus) pos_ = skip_ws(pos_);
            line_starting_ = pos_ > start && src_[pos_ - 1] == '\n';
          } else {
            finish_block_end(minus, plus);
          }
          return;
        }
      }
      i = lex_expr_token(i, depth);
    }
  }

  size_t lex_expr_token(size_t i, int& depth) {
    char c = src_[i];
    if (is_name_start(c)) {
      size_t j = i;
      while (j < src_.size() && is_name_char(src_[j])) ++j;
      push(TokenType::kName, src_.substr(i, j - i), i);
      return j;
    }
    if (is_digit(c)) return lex_number(i);
    if (c == '\'' || c == '"') return lex_string(i);
    static const char* kOps2[] = {"**", "//", "==", "!=", "<=", ">="};
    for (const char* op : kOps2) {
      if (src_.compare(i, 2, op) == 0) {
        push(TokenType::kOp, op, i);
        return i + 2;
      }
    }
    static const std::string kOps1 = "+-*/%~<>=()[]{},.:|;";
    if (kOps1.find(c) == std::string::npos)
      error_at(i, "unexpected character '" + printable(std::string_view(&src_[i], 1)) + "'");
    if (c == '(' || c == '[' || c == '{') ++depth;
    if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
    push(TokenType::kOp, std::string(1, c), i);
    return i + 1;
  }

  size_t lex_number(size_t i) {
    size_t j = i;
    auto digits = [&]() {
      while (j < src_.size() && (is_digit(src_[j]) || (src_[j] == '_' && j + 1 < src_.size() && is_digit(src_[j + 1])))) ++j;
    };
    digits();
    bool is_float = false;
    if (j + 1 < src_.size() && src_[j] == '.' && is_digit(src_[j + 1])) {
      is_float = true;
      ++j;
      digits();
    }
    if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
      size_t k = j + 1;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
      if (k < src_.size() && is_digit(src_[k])) {
        is_float = true;
        j = k;
        digits();
      }
    }
    std::string text;
    for (size_t k = i; k < j; ++k)
      if (src_[k] != '_') text.push_back(src_[k]);
    Token t;
    set_pos(t, i);
    t.text = text;
    errno = 0;
    if (is_float) {
      t.type = TokenType::kFloat;
      t.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      t.type = TokenType::kInt;
      t.int_value = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) error_at(i, "integer literal too large: " + text);
    }
    tokens_.push_back(std::move(t));
    return j;
  }

  static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Python string-literal escapes (Jinja unescapes its literals the same way).
  size_t lex_escape(size_t j, std::string& out) {
    char e = src_[j];
    auto read_hex = [&](size_t n) -> long {
      if (j + n >= src_.size()) return -1;
      long v = 0;
      for (size_t k = 1; k <= n; ++k) {
        int h = hex_val(src_[j + k]);
        if (h < 0) return -1;
        v = v * 16 + h;
      }
      return v;
    };
    switch (e) {
      case 'n': out.push_back('\n'); return j + 1;
      case 't': out.push_back('\t'); return j + 1;
      case 'r': out.push_back('\r'); return j + 1;
      case 'b': out.push_back('\b'); return j + 1;
      case 'f': out.push_back('\f'); return j + 1;
      case 'v': out.push_back('\v'); return j + 1;
      case 'a': out.push_back('\a'); return j + 1;
      case '\\': case '\'': case '"': out.push_back(e); return j + 1;
      case '\n': return j + 1;
      case 'x': case 'u': case 'U': {
        size_t n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
        long v = read_hex(n);
        if (v < 0 || v > 0x10FFFF) error_at(j, "invalid \\" + std::string(1, e) + " escape in string literal");
        utf8_append(out, static_cast<uint32_t>(v));
        return j + 1 + n;
      }
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = 0;
          size_t k = j;
          for (; k < src_.size() && k < j + 3 && src_[k] >= '0' && src_[k] <= '7'; ++k) v = v * 8 + static_cast<uint32_t>(src_[k] - '0');
          utf8_append(out, v);
          return k;
        }
        out.push_back('\\');
        out.push_back(e);
        return j + 1;
    }
  }

  size_t lex_string(size_t i) {
    char q = src_[i];
    std::string out;
    size_t j = i + 1;
    while (true) {
      if (j >= src_.size()) error_at(i, "unterminated string literal");
      char c = src_[j];
      if (c == q) break;
      if (c == '\\') {
        if (j + 1 >= src_.size()) error_at(i, "unterminated string literal");
        j = lex_escape(j + 1, out);
        continue;
      }
      out.push_back(c);
      ++j;
    }
    push(TokenType::kString, std::move(out), i);
    return j + 1;
  }

  std::string src_;
  LexOptions opt_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
  size_t lc_pos_ = 0;
  int lc_line_ = 1, lc_col_ = 1;
};

std::string normalize_newlines(const std::string& source) {
  std::string s;
  s.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      s.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      s.push_back(source[i]);
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();  // keep_trailing_newline=False
  return s;
}

}  // namespace

Result<std::vector<Token>> tokenize(const std::string& source, const LexOptions& options) {
  Lexer lexer(normalize_newlines(source), options);
  return lexer.run();
}

}  // namespace dari::jinja
