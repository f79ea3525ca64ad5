// Template: parse + render entry points; the only place TemplateError becomes a Result.
#include "dari/template/template.h"

#include <exception>
#include <new>

#include "dari/core/strings.h"
#include "template/evaluator.h"
#include "template/lexer.h"
#include "template/parser.h"

namespace dari::jinja {

struct Template::Impl {
  Body body;
};

namespace {

// Unknown filters and tests are compile-time errors in Jinja; report them at parse time too.
void validate_expr(const Expr* e) {
  if (!e) return;
  if (e->kind == ExprKind::kFilter && !has_filter(e->name))
    throw TemplateError{"no filter named '" + e->name + "'", e->line, e->col};
  if (e->kind == ExprKind::kTest && !has_test(e->name))
    throw TemplateError{"no test named '" + e->name + "'", e->line, e->col};
  for (const auto& c : e->children) validate_expr(c.get());
  for (const auto& kv : e->kwargs) validate_expr(kv.second.get());
}

void validate_body(const Body& body) {
  for (const auto& s : body) {
    validate_expr(s->expr.get());
    validate_expr(s->cond.get());
    for (const auto& c : s->conds) validate_expr(c.get());
    for (const auto& p : s->params) validate_expr(p.second.get());
    for (const auto& b : s->bodies) validate_body(b);
    validate_body(s->body);
    validate_body(s->else_body);
  }
}

std::string located(const TemplateError& e) {
  if (e.line == 0) return e.message;
  return str_format("line %d, column %d: %s", e.line, e.col, e.message.c_str());
}

}  // namespace

Result<Template> Template::parse(const std::string& source, const TemplateOptions& options) {
  LexOptions lex{options.trim_blocks, options.lstrip_blocks};
  DARI_ASSIGN_OR_RETURN(std::vector<Token> tokens, tokenize(source, lex));
  DARI_ASSIGN_OR_RETURN(Body body, parse_tokens(std::move(tokens)));
  try {
    validate_body(body);
  } catch (const TemplateError& e) {
    return make_error(located(e));
  }
  auto impl = std::make_shared<Impl>();
  impl->body = std::move(body);
  Template t;
  t.impl_ = std::move(impl);
  return t;
}

Result<std::string> Template::render(const nlohmann::ordered_json& context, int64_t now_unix_seconds,
                                     const RenderLimits& limits) const {
  if (!impl_) return make_error("render: template was not parsed");
  if (!context.is_object() && !context.is_null()) return make_error("render: context must be a JSON object");
  try {
    auto root = std::make_shared<Frame>();
    install_globals(*root);
    if (context.is_object()) {
      for (const auto& [k, v] : context.items()) root->vars[k] = Value::from_json(v);
    }
    Evaluator ev(limits, root);
    ev.now_seconds = now_unix_seconds;
    std::string out;
    ev.exec_body(impl_->body, out);
    return out;
  } catch (const TemplateError& e) {
    return make_error(located(e));
  } catch (const std::bad_alloc&) {
    return make_error("render: out of memory");
  } catch (const std::exception& e) {
    return make_error(std::string("render: ") + e.what());
  }
}

}  // namespace dari::jinja
