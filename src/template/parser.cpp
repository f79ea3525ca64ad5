// Jinja parser (see parser.h).
#include "template/parser.h"

#include <algorithm>

#include "dari/core/strings.h"

namespace dari::jinja {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<Body> run() {
    try {
      Body body = parse_body({}, nullptr);
      return body;
    } catch (const TemplateError& e) {
      return make_error(str_format("line %d, column %d: %s", e.line, e.col, e.message.c_str()));
    }
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > kMaxParseDepth) p_.error("template nested too deeply");
    }
    ~DepthGuard() { --p_.depth_; }
    Parser& p_;
  };

  // Each link of a left-deep chain (a.b.c, a+b+c, x|f|g) deepens the AST by one; counting the
  // links keeps every tree shallow enough for the recursive evaluator and destructor.
  struct ChainGuard {
    explicit ChainGuard(Parser& p) : p_(p) {}
    ~ChainGuard() { p_.depth_ -= added_; }
    void link() {
      ++added_;
      if (++p_.depth_ > kMaxParseDepth) p_.error("expression nested too deeply");
    }
    Parser& p_;
    int added_ = 0;
  };

  const Token& cur() const { return t_[p_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(p_ + n, t_.size() - 1)]; }
  void advance() {
    if (p_ + 1 < t_.size()) ++p_;
  }
  [[noreturn]] void error(const std::string& msg) const { throw TemplateError{msg, cur().line, cur().col}; }
  [[noreturn]] void error_at(const Token& t, const std::string& msg) const { throw TemplateError{msg, t.line, t.col}; }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::kEof: return "end of template";
      case TokenType::kVarEnd: return "'}}'";
      case TokenType::kBlockEnd: return "'%}'";
      case TokenType::kText: return "template text";
      case TokenType::kString: return "string literal";
      default: return "'" + printable(t.text) + "'";
    }
  }

  bool is_op(const char* op) const { return cur().type == TokenType::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == TokenType::kName && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) error(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != TokenType::kName) error("expected a name, got " + describe(cur()));
    std::string n = cur().text;
    advance();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TokenType::kBlockEnd) error("expected '%}', got " + describe(cur()));
    advance();
  }

  ExprPtr node(ExprKind kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->col = at.col;
    return e;
  }
  StmtPtr stmt(StmtKind kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->col = at.col;
    return s;
  }

  // ---- statements -------------------------------------------------------------------------

  // Parses until a block tag whose name is in `ends` (left unconsumed after its '{%').
  // `opener` names the tag for "unterminated" errors.
  Body parse_body(const std::vector<std::string>& ends, const Token* opener) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      switch (t.type) {
        case TokenType::kEof:
          if (!ends.empty())
            error_at(t, str_format("unexpected end of template: '%s' opened at line %d, column %d "
                                   "was never closed (expected '%s')",
                                   opener ? opener->text.c_str() : "?", opener ? opener->line : 0,
                                   opener ? opener->col : 0, ends.back().c_str()));
          return body;
        case TokenType::kText: {
          auto s = stmt(StmtKind::kText, t);
          s->text = t.text;
          advance();
          body.push_back(std::move(s));
          break;
        }
        case TokenType::kVarBegin: {
          auto s = stmt(StmtKind::kOutput, t);
          advance();
          s->expr = parse_expression();
          if (cur().type != TokenType::kVarEnd) error("expected '}}', got " + describe(cur()));
          advance();
          body.push_back(std::move(s));
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& name = peek();
          if (name.type == TokenType::kName &&
              std::find(ends.begin(), ends.end(), name.text) != ends.end()) {
            advance();  // now at the end tag's name
            return body;
          }
          advance();
          body.push_back(parse_statement());
          break;
        }
        default: error("unexpected " + describe(t));
      }
    }
  }

  StmtPtr parse_statement() {
    const Token& t = cur();
    if (t.type != TokenType::kName) error("expected a tag name, got " + describe(t));
    const std::string& n = t.text;
    if (n == "if") return parse_if();
    if (n == "for") return parse_for();
    if (n == "set") return parse_set();
    if (n == "macro") return parse_macro();
    if (n == "call") return parse_call_block();
    if (n == "filter") return parse_filter_block();
    if (n == "break" || n == "continue") {
      auto s = stmt(n == "break" ? StmtKind::kBreak : StmtKind::kContinue, t);
      advance();
      expect_block_end();
      return s;
    }
    if (n == "do") {
      auto s = stmt(StmtKind::kDo, t);
      advance();
      s->expr = parse_expression();
      expect_block_end();
      return s;
    }
    if (n == "generation" || n == "block") return parse_scope(n);
    if (n.rfind("end", 0) == 0 || n == "elif" || n == "else")
      error("unexpected '" + printable(n) + "' (no matching open block)");
    error("unknown or unsupported tag '" + printable(n) + "'");
  }

  // Consumes "endX %}" after parse_body stopped at it.
  void close_tag(const char* end_name) {
    if (!skip_name(end_name)) error(std::string("expected '") + end_name + "'");
    // Jinja allows a name after endblock/endmacro.
    if (cur().type == TokenType::kName) advance();
    expect_block_end();
  }

  StmtPtr parse_scope(const std::string& n) {
    Token open = cur();
    auto s = stmt(StmtKind::kScope, open);
    advance();
    if (n == "block") expect_name();
    expect_block_end();
    std::string end = "end" + n;
    s->body = parse_body({end}, &open);
    close_tag(end.c_str());
    return s;
  }

  StmtPtr parse_if() {
    Token open = cur();
    auto s = stmt(StmtKind::kIf, open);
    advance();
    s->conds.push_back(parse_expression());
    expect_block_end();
    while (true) {
      Body b = parse_body({"elif", "else", "endif"}, &open);
      s->bodies.push_back(std::move(b));
      if (skip_name("elif")) {
        s->conds.push_back(parse_expression());
        expect_block_end();
        continue;
      }
      if (skip_name("else")) {
        expect_block_end();
        s->else_body = parse_body({"endif"}, &open);
      }
      close_tag("endif");
      return s;
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    bool paren = skip_op("(");
    names.push_back(expect_name());
    while (skip_op(",")) {
      if (cur().type != TokenType::kName) break;
      names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return names;
  }

  StmtPtr parse_for() {
    Token open = cur();
    auto s = stmt(StmtKind::kFor, open);
    advance();
    s->targets = parse_targets();
    if (!skip_name("in")) error("expected 'in' in for loop, got " + describe(cur()));
    s->expr = parse_or_no_cond();
    if (skip_name("if")) s->cond = parse_expression();
    if (skip_name("recursive")) error("recursive for loops are not supported");
    expect_block_end();
    s->body = parse_body({"else", "endfor"}, &open);
    if (skip_name("else")) {
      expect_block_end();
      s->else_body = parse_body({"endfor"}, &open);
    }
    close_tag("endfor");
    return s;
  }

  StmtPtr parse_set() {
    Token open = cur();
    advance();
    std::string first = expect_name();
    if (skip_op(".")) {
      auto s = stmt(StmtKind::kSet, open);
      s->targets.push_back(first);
      s->name = expect_name();
      expect_op("=");
      s->expr = parse_tuple_expression();
      expect_block_end();
      return s;
    }
    std::vector<std::string> names{first};
    while (skip_op(",")) names.push_back(expect_name());
    if (skip_op("=")) {
      auto s = stmt(StmtKind::kSet, open);
      s->targets = std::move(names);
      s->expr = parse_tuple_expression();
      expect_block_end();
      return s;
    }
    if (names.size() != 1) error("expected '=' in set statement");
    auto s = stmt(StmtKind::kSetBlock, open);
    s->targets = std::move(names);
    if (is_op("|")) s->expr = parse_filter_chain(nullptr);
    expect_block_end();
    s->body = parse_body({"endset"}, &open);
    close_tag("endset");
    return s;
  }

  void parse_params(std::vector<std::pair<std::string, ExprPtr>>& params) {
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string pname = expect_name();
      ExprPtr def;
      if (skip_op("=")) def = parse_expression();
      params.emplace_back(std::move(pname), std::move(def));
    }
    expect_op(")");
  }

  StmtPtr parse_macro() {
    Token open = cur();
    auto s = stmt(StmtKind::kMacro, open);
    advance();
    s->name = expect_name();
    parse_params(s->params);
    expect_block_end();
    s->body = parse_body({"endmacro"}, &open);
    close_tag("endmacro");
    return s;
  }

  StmtPtr parse_call_block() {
    Token open = cur();
    auto s = stmt(StmtKind::kCallBlock, open);
    advance();
    if (is_op("(")) parse_params(s->params);
    s->expr = parse_expression();
    if (s->expr->kind != ExprKind::kCall) error_at(open, "expected a call expression after 'call'");
    expect_block_end();
    s->body = parse_body({"endcall"}, &open);
    close_tag("endcall");
    return s;
  }

  StmtPtr parse_filter_block() {
    Token open = cur();
    auto s = stmt(StmtKind::kFilterBlock, open);
    advance();
    s->expr = parse_filter_chain(nullptr, /*leading_pipe=*/false);
    expect_block_end();
    s->body = parse_body({"endfilter"}, &open);
    close_tag("endfilter");
    return s;
  }

  // ---- expressions ------------------------------------------------------------------------

  // Top-level expression; a bare "a, b" becomes a tuple (as in set and output).
  ExprPtr parse_tuple_expression() {
    Token at = cur();
    ExprPtr first = parse_expression();
    if (!is_op(",")) return first;
    auto tup = node(ExprKind::kTuple, at);
    tup->children.push_back(std::move(first));
    while (skip_op(",")) {
      if (cur().type == TokenType::kBlockEnd || cur().type == TokenType::kVarEnd) break;
      tup->children.push_back(parse_expression());
    }
    return tup;
  }

  ExprPtr parse_expression() {
    DepthGuard guard(*this);
    Token at = cur();
    ExprPtr e = parse_or();
    ChainGuard chain(*this);
    while (skip_name("if")) {
      chain.link();
      auto c = node(ExprKind::kCond, at);
      c->children.push_back(std::move(e));
      c->children.push_back(parse_or());
      if (skip_name("else")) c->children.push_back(parse_expression());
      e = std::move(c);
    }
    return e;
  }

  // The iterable of a for loop: no conditional expression (the `if` is a loop filter).
  ExprPtr parse_or_no_cond() { return parse_or(); }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    ChainGuard chain(*this);
    while (is_name("or")) {
      chain.link();
      auto n = node(ExprKind::kOr, cur());
      advance();
      n->children.push_back(std::move(left));
      n->children.push_back(parse_and());
      left = std::move(n);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    ChainGuard chain(*this);
    while (is_name("and")) {
      chain.link();
      auto n = node(ExprKind::kAnd, cur());
      advance();
      n->children.push_back(std::move(left));
      n->children.push_back(parse_not());
      left = std::move(n);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto n = node(ExprKind::kUnary, cur());
      n->name = "not";
      advance();
      n->children.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    Token at = cur();
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == TokenType::kOp &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == ">" ||
           cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        advance();
      } else if (is_name("in")) {
        op = "in";
        advance();
      } else if (is_name("not") && peek().type == TokenType::kName && peek().text == "in") {
        op = "notin";
        advance();
        advance();
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(ExprKind::kCompare, at);
        cmp->children.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, const Token& at) {
    auto n = node(ExprKind::kBinary, at);
    n->name = op;
    n->children.push_back(std::move(l));
    n->children.push_back(std::move(r));
    return n;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    ChainGuard chain(*this);
    while (is_op("+") || is_op("-")) {
      chain.link();
      Token at = cur();
      advance();
      left = binary(at.text, std::move(left), parse_concat(), at);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    ChainGuard chain(*this);
    while (is_op("~")) {
      chain.link();
      Token at = cur();
      advance();
      left = binary("~", std::move(left), parse_math2(), at);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    ChainGuard chain(*this);
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      chain.link();
      Token at = cur();
      advance();
      left = binary(at.text, std::move(left), parse_pow(), at);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    ChainGuard chain(*this);
    while (is_op("**")) {
      chain.link();
      Token at = cur();
      advance();
      left = binary("**", std::move(left), parse_unary(true), at);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(ExprKind::kUnary, cur());
      e->name = cur().text;
      advance();
      e->children.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr e);
  ExprPtr parse_filter_expr(ExprPtr e);
  ExprPtr parse_filter_chain(ExprPtr base, bool leading_pipe = true);
  ExprPtr parse_subscript(ExprPtr base, const Token& at);
  void parse_call_args(Expr& call);

  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
};

ExprPtr Parser::parse_primary() {
  const Token t = cur();
  switch (t.type) {
    case TokenType::kName: {
      advance();
      auto lit = node(ExprKind::kLiteral, t);
      if (t.text == "true" || t.text == "True") lit->literal = Value(true);
      else if (t.text == "false" || t.text == "False") lit->literal = Value(false);
      else if (t.text == "none" || t.text == "None") lit->literal = Value::none();
      else {
        auto n = node(ExprKind::kName, t);
        n->name = t.text;
        return n;
      }
      return lit;
    }
    case TokenType::kString: {
      std::string s = t.text;
      advance();
      while (cur().type == TokenType::kString) {  // adjacent literals concatenate
        s += cur().text;
        advance();
      }
      auto lit = node(ExprKind::kLiteral, t);
      lit->literal = Value(std::move(s));
      return lit;
    }
    case TokenType::kInt:
    case TokenType::kFloat: {
      advance();
      auto lit = node(ExprKind::kLiteral, t);
      lit->literal = t.type == TokenType::kInt ? Value(t.int_value) : Value(t.float_value);
      return lit;
    }
    case TokenType::kOp:
      if (t.text == "(") {
        advance();
        if (skip_op(")")) return node(ExprKind::kTuple, t);
        ExprPtr first = parse_expression();
        if (skip_op(")")) return first;
        auto tup = node(ExprKind::kTuple, t);
        tup->children.push_back(std::move(first));
        while (skip_op(",")) {
          if (is_op(")")) break;
          tup->children.push_back(parse_expression());
        }
        expect_op(")");
        return tup;
      }
      if (t.text == "[") {
        advance();
        auto list = node(ExprKind::kList, t);
        while (!is_op("]")) {
          if (!list->children.empty()) expect_op(",");
          if (is_op("]")) break;
          list->children.push_back(parse_expression());
        }
        expect_op("]");
        return list;
      }
      if (t.text == "{") {
        advance();
        auto dict = node(ExprKind::kDict, t);
        while (!is_op("}")) {
          if (!dict->children.empty()) expect_op(",");
          if (is_op("}")) break;
          dict->children.push_back(parse_expression());
          expect_op(":");
          dict->children.push_back(parse_expression());
        }
        expect_op("}");
        return dict;
      }
      break;
    default: break;
  }
  error("unexpected " + describe(t));
}

ExprPtr Parser::parse_postfix(ExprPtr e) {
  ChainGuard chain(*this);
  while (true) {
    chain.link();
    Token at = cur();
    if (skip_op(".")) {
      auto g = node(ExprKind::kGetAttr, at);
      if (cur().type == TokenType::kName) {
        g->name = cur().text;
      } else if (cur().type == TokenType::kInt) {
        g->kind = ExprKind::kGetItem;
        auto idx = node(ExprKind::kLiteral, cur());
        idx->literal = Value(cur().int_value);
        g->children.push_back(std::move(e));
        g->children.push_back(std::move(idx));
        advance();
        e = std::move(g);
        continue;
      } else {
        error("expected an attribute name after '.', got " + describe(cur()));
      }
      advance();
      g->children.push_back(std::move(e));
      e = std::move(g);
    } else if (skip_op("[")) {
      e = parse_subscript(std::move(e), at);
    } else if (is_op("(")) {
      auto call = node(ExprKind::kCall, at);
      call->children.push_back(std::move(e));
      parse_call_args(*call);
      e = std::move(call);
    } else {
      return e;
    }
  }
}

ExprPtr Parser::parse_subscript(ExprPtr base, const Token& at) {
  ExprPtr parts[3];
  int colons = 0;
  for (int i = 0; i < 3; ++i) {
    if (!is_op(":") && !is_op("]")) parts[i] = parse_expression();
    if (i < 2 && skip_op(":")) {
      ++colons;
      continue;
    }
    break;
  }
  expect_op("]");
  if (colons == 0) {
    if (!parts[0]) error_at(at, "empty subscript");
    auto g = node(ExprKind::kGetItem, at);
    g->children.push_back(std::move(base));
    g->children.push_back(std::move(parts[0]));
    return g;
  }
  auto s = node(ExprKind::kSlice, at);
  s->children.push_back(std::move(base));
  for (auto& p : parts) s->children.push_back(std::move(p));
  return s;
}

void Parser::parse_call_args(Expr& call) {
  expect_op("(");
  bool first = true;
  while (!is_op(")")) {
    if (!first) expect_op(",");
    first = false;
    if (is_op(")")) break;
    if (cur().type == TokenType::kName && peek().type == TokenType::kOp && peek().text == "=") {
      std::string key = cur().text;
      advance();
      advance();
      call.kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      if (!call.kwargs.empty()) error("positional argument after keyword argument");
      call.children.push_back(parse_expression());
    }
  }
  expect_op(")");
}

ExprPtr Parser::parse_filter_chain(ExprPtr base, bool leading_pipe) {
  ChainGuard chain(*this);
  bool first = true;
  while (first ? (!leading_pipe || is_op("|")) : is_op("|")) {
    chain.link();
    if (!first || leading_pipe) expect_op("|");
    first = false;
    Token at = cur();
    auto f = node(ExprKind::kFilter, at);
    f->name = expect_name();
    while (skip_op(".")) f->name += "." + expect_name();
    f->children.push_back(std::move(base));
    if (is_op("(")) parse_call_args(*f);
    base = std::move(f);
  }
  return base;
}

ExprPtr Parser::parse_filter_expr(ExprPtr e) {
  ChainGuard chain(*this);
  while (true) {
    chain.link();
    if (is_op("|")) {
      e = parse_filter_chain(std::move(e));
      e = parse_postfix(std::move(e));
    } else if (is_name("is")) {
      Token at = cur();
      advance();
      auto t = node(ExprKind::kTest, at);
      t->negated = skip_name("not");
      t->name = expect_name();
      while (skip_op(".")) t->name += "." + expect_name();
      t->children.push_back(std::move(e));
      if (is_op("(")) {
        parse_call_args(*t);
      } else {
        const Token& c = cur();
        bool arg_start = c.type == TokenType::kString || c.type == TokenType::kInt ||
                         c.type == TokenType::kFloat ||
                         (c.type == TokenType::kOp && (c.text == "[" || c.text == "{")) ||
                         (c.type == TokenType::kName && c.text != "else" && c.text != "or" &&
                          c.text != "and" && c.text != "if" && c.text != "is" && c.text != "not" && c.text != "in");
        if (arg_start) t->children.push_back(parse_postfix(parse_primary()));
      }
      e = std::move(t);
    } else if (is_op("(")) {
      auto call = node(ExprKind::kCall, cur());
      call->children.push_back(std::move(e));
      parse_call_args(*call);
      e = std::move(call);
    } else {
      return e;
    }
  }
}

}  // namespace

Result<Body> parse_tokens(std::vector<Token> tokens) {
  Parser parser(std::move(tokens));
  return parser.run();
}

}  // namespace dari::jinja
