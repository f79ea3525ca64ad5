// Evaluator: executes a parsed Jinja AST against a context of variables.
//
// One Evaluator per render call; it owns the variable frames, the output limits and the step
// budget. Errors are thrown as TemplateError (with the line/column of the statement or
// expression being evaluated) and turned into Result by Template::render.
//
// Limits (all configurable through RenderLimits, defaults in include/dari/template/template.h):
// output/string size, list size, loop iterations, total evaluation steps and nesting depth
// (macro recursion and expression depth), so no template or input can hang or crash a process.
//
// Thread safety: single thread (the one calling render).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "dari/template/template.h"
#include "template/ast.h"
#include "template/value.h"

namespace dari::jinja {

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
  const Value* lookup(const std::string& name) const;
};

enum class Flow : uint8_t { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  Evaluator(const RenderLimits& limits, std::shared_ptr<Frame> root);

  Flow exec_body(const Body& body, std::string& out);
  Value eval(const Expr& e);

  // Calls a function value (native, method or macro).
  Value call(const Value& fn, CallArgs& args);
  // Python-Jinja attribute and item access (methods first for attributes of dicts/strings).
  Value get_attr(const Value& obj, const std::string& name);
  Value get_item(const Value& obj, const Value& key);
  // Values of an iteration (list items, dict keys, string characters); Undefined is empty.
  std::vector<Value> iterate(const Value& v);

  // Limit checks used by filters and methods.
  void check_string(size_t bytes) const;
  void check_items(size_t count) const;
  void step();
  const RenderLimits& limits() const { return limits_; }
  // The fixed time used by strftime_now (seconds since the Unix epoch, UTC).
  int64_t now_seconds = 0;

 private:
  struct DepthGuard {
    explicit DepthGuard(Evaluator& e);
    ~DepthGuard() { --ev_.depth_; }
    Evaluator& ev_;
  };

  Flow exec(const Stmt& s, std::string& out);
  void exec_if(const Stmt& s, std::string& out, Flow& flow);
  Flow exec_for(const Stmt& s, std::string& out);
  void exec_set(const Stmt& s);
  void exec_macro(const Stmt& s);
  void exec_call_block(const Stmt& s, std::string& out);
  void assign(const std::vector<std::string>& targets, const Value& v);
  void append_out(std::string& out, const std::string& s) const;
  Value apply_filter_chain(const Expr& chain, Value input);

  Value eval_binary(const Expr& e);
  Value eval_compare(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_slice(const Expr& e);
  Value eval_filter(const Expr& e);
  bool eval_test(const Expr& e);
  void eval_args(const Expr& e, size_t first, CallArgs& args);
  Value lookup(const std::string& name);
  Value make_macro(const Stmt& s, std::shared_ptr<Frame> scope);
  Value invoke_macro(const Stmt& s, const std::shared_ptr<Frame>& scope, CallArgs& args);

  RenderLimits limits_;
  std::shared_ptr<Frame> root_;
  std::shared_ptr<Frame> frame_;
  int depth_ = 0;
  uint64_t steps_ = 0;
  uint64_t iterations_ = 0;
};

// Arithmetic and containment with Python semantics (evaluator_ops.cpp).
Value binary_op(Evaluator& ev, const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
[[noreturn]] void undefined_error(const Value& v);

// Builtins (builtins.cpp / filters.cpp / methods.cpp).
bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(Evaluator& ev, const std::string& name, const Value& input, CallArgs& args);
bool apply_test(Evaluator& ev, const std::string& name, const Value& v, CallArgs& args);
// Bound method of a str/dict/list value, or Undefined when there is none.
Value get_method(const Value& obj, const std::string& name);
// Globals available to every template (range, namespace, dict, raise_exception, ...).
void install_globals(Frame& frame);
// Shared helpers for builtins.
Value slice_value(Evaluator& ev, const Value& v, const Value& start, const Value& stop, const Value& step);
// `escape_args`: the format string is markup (Markup.__mod__), so %s / %r arguments are escaped.
std::string percent_format(Evaluator& ev, const std::string& fmt, const std::vector<Value>& args,
                           bool escape_args = false);
std::string py_strip(std::string_view s, const Value& chars, bool left, bool right);

// Argument access for builtins: positional index or keyword name, else `def`.
const Value* find_arg(const CallArgs& args, size_t pos, const char* name);
Value arg_or(const CallArgs& args, size_t pos, const char* name, Value def);

}  // namespace dari::jinja
