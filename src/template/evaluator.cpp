// Evaluator: statements (see evaluator.h).
#include "template/evaluator.h"

#include "dari/core/strings.h"

namespace dari::jinja {

const Value* Frame::lookup(const std::string& name) const {
  for (const Frame* f = this; f; f = f->parent.get()) {
    auto it = f->vars.find(name);
    if (it != f->vars.end()) return &it->second;
  }
  return nullptr;
}

Evaluator::DepthGuard::DepthGuard(Evaluator& e) : ev_(e) {
  if (++ev_.depth_ > ev_.limits_.max_depth) {
    fail(str_format("template nesting deeper than %d (recursion limit)", ev_.limits_.max_depth));
  }
}

Evaluator::Evaluator(const RenderLimits& limits, std::shared_ptr<Frame> root)
    : limits_(limits), root_(std::move(root)), frame_(root_) {}

void Evaluator::check_string(size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    fail(str_format("string of %zu bytes exceeds the limit of %zu bytes", bytes, limits_.max_output_bytes));
}

void Evaluator::check_items(size_t count) const {
  if (count > limits_.max_list_items)
    fail(str_format("list of %zu items exceeds the limit of %zu items", count, limits_.max_list_items));
}

void Evaluator::step() {
  if (++steps_ > limits_.max_steps)
    fail(str_format("template exceeded the evaluation budget of %llu steps",
                    static_cast<unsigned long long>(limits_.max_steps)));
}

void Evaluator::append_out(std::string& out, const std::string& s) const {
  check_string(out.size() + s.size());
  out += s;
}

static void locate(TemplateError& e, int line, int col) {
  if (e.line == 0) {
    e.line = line;
    e.col = col;
  }
}

Flow Evaluator::exec_body(const Body& body, std::string& out) {
  for (const auto& s : body) {
    Flow f = exec(*s, out);
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Flow Evaluator::exec(const Stmt& s, std::string& out) {
  DepthGuard guard(*this);
  step();
  try {
    switch (s.kind) {
      case StmtKind::kText: append_out(out, s.text); return Flow::kNormal;
      case StmtKind::kOutput: {
        Value v = eval(*s.expr);
        if (v.is_undefined()) return Flow::kNormal;
        append_out(out, v.to_str());
        return Flow::kNormal;
      }
      case StmtKind::kIf: {
        Flow flow = Flow::kNormal;
        exec_if(s, out, flow);
        return flow;
      }
      case StmtKind::kFor: return exec_for(s, out);
      case StmtKind::kSet: exec_set(s); return Flow::kNormal;
      case StmtKind::kSetBlock: {
        std::string text;
        exec_body(s.body, text);
        Value v(std::move(text));
        if (s.expr) v = apply_filter_chain(*s.expr, std::move(v));
        assign(s.targets, v);
        return Flow::kNormal;
      }
      case StmtKind::kMacro: exec_macro(s); return Flow::kNormal;
      case StmtKind::kCallBlock: exec_call_block(s, out); return Flow::kNormal;
      case StmtKind::kFilterBlock: {
        std::string text;
        exec_body(s.body, text);
        append_out(out, apply_filter_chain(*s.expr, Value(std::move(text))).to_str());
        return Flow::kNormal;
      }
      case StmtKind::kBreak: return Flow::kBreak;
      case StmtKind::kContinue: return Flow::kContinue;
      case StmtKind::kDo: eval(*s.expr); return Flow::kNormal;
      case StmtKind::kScope: return exec_body(s.body, out);
    }
  } catch (TemplateError& e) {
    locate(e, s.line, s.col);
    throw;
  }
  return Flow::kNormal;
}

void Evaluator::exec_if(const Stmt& s, std::string& out, Flow& flow) {
  for (size_t i = 0; i < s.conds.size(); ++i) {
    if (eval(*s.conds[i]).truthy()) {
      flow = exec_body(s.bodies[i], out);
      return;
    }
  }
  flow = exec_body(s.else_body, out);
}

void Evaluator::assign(const std::vector<std::string>& targets, const Value& v) {
  if (targets.size() == 1) {
    frame_->vars[targets[0]] = v;
    return;
  }
  std::vector<Value> items = iterate(v);
  if (items.size() != targets.size())
    fail(str_format("cannot unpack %zu values into %zu names", items.size(), targets.size()));
  for (size_t i = 0; i < targets.size(); ++i) frame_->vars[targets[i]] = items[i];
}

void Evaluator::exec_set(const Stmt& s) {
  Value v = eval(*s.expr);
  if (s.name.empty()) {
    assign(s.targets, v);
    return;
  }
  Value target = lookup(s.targets[0]);
  if (!target.is_object() || target.obj().kind != ObjectKind::kNamespace)
    fail("cannot assign attribute '" + s.name + "' on '" + s.targets[0] +
         "': only namespace() objects support attribute assignment");
  if (v.reaches(target.obj_ptr().get())) fail("assignment would create a reference cycle");
  target.obj().set(s.name, v);
}

Flow Evaluator::exec_for(const Stmt& s, std::string& out) {
  std::vector<Value> all = iterate(eval(*s.expr));
  auto scope = std::make_shared<Frame>();
  scope->parent = frame_;
  auto saved = frame_;
  frame_ = scope;
  struct Restore {
    Evaluator& ev;
    std::shared_ptr<Frame> saved;
    ~Restore() { ev.frame_ = saved; }
  } restore{*this, saved};

  std::vector<Value> items;
  if (s.cond) {
    for (auto& v : all) {
      assign(s.targets, v);
      if (eval(*s.cond).truthy()) items.push_back(std::move(v));
    }
  } else {
    items = std::move(all);
  }
  if (items.empty()) {
    exec_body(s.else_body, out);
    return Flow::kNormal;
  }
  Value loop = Value::object(ObjectKind::kLoop);
  auto index = std::make_shared<int64_t>(0);
  loop.obj().set("cycle", Value::function("loop.cycle", [index](Evaluator&, CallArgs& a) -> Value {
    if (a.args.empty()) fail("loop.cycle() needs at least one argument");
    return a.args[static_cast<size_t>(*index) % a.args.size()];
  }));
  const auto n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    if (++iterations_ > limits_.max_loop_iterations)
      fail(str_format("template exceeded the limit of %llu loop iterations",
                      static_cast<unsigned long long>(limits_.max_loop_iterations)));
    *index = i;
    Object& lo = loop.obj();
    lo.set("index0", Value(i));
    lo.set("index", Value(i + 1));
    lo.set("revindex", Value(n - i));
    lo.set("revindex0", Value(n - i - 1));
    lo.set("first", Value(i == 0));
    lo.set("last", Value(i == n - 1));
    lo.set("length", Value(n));
    lo.set("depth", Value(int64_t{1}));
    lo.set("depth0", Value(int64_t{0}));
    lo.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("loop.previtem"));
    lo.set("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("loop.nextitem"));
    scope->vars["loop"] = loop;
    assign(s.targets, items[static_cast<size_t>(i)]);
    Flow f = exec_body(s.body, out);
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Value Evaluator::make_macro(const Stmt& s, std::shared_ptr<Frame> scope) {
  std::weak_ptr<Frame> weak = scope;
  const Stmt* def = &s;
  return Value::function(s.name, [def, weak](Evaluator& ev, CallArgs& args) -> Value {
    std::shared_ptr<Frame> parent = weak.lock();
    if (!parent) parent = ev.root_;
    return ev.invoke_macro(*def, parent, args);
  });
}

void Evaluator::exec_macro(const Stmt& s) { frame_->vars[s.name] = make_macro(s, frame_); }

Value Evaluator::invoke_macro(const Stmt& s, const std::shared_ptr<Frame>& scope, CallArgs& args) {
  DepthGuard guard(*this);
  auto f = std::make_shared<Frame>();
  f->parent = scope;
  auto saved = frame_;
  frame_ = f;
  struct Restore {
    Evaluator& ev;
    std::shared_ptr<Frame> saved;
    ~Restore() { ev.frame_ = saved; }
  } restore{*this, saved};

  std::vector<bool> bound(s.params.size(), false);
  Value varargs = Value::tuple({});
  for (size_t i = 0; i < args.args.size(); ++i) {
    if (i < s.params.size()) {
      f->vars[s.params[i].first] = args.args[i];
      bound[i] = true;
    } else {
      varargs.arr().items.push_back(args.args[i]);
    }
  }
  Value kwargs = Value::object();
  for (auto& [k, v] : args.kwargs) {
    bool matched = false;
    for (size_t i = 0; i < s.params.size(); ++i) {
      if (s.params[i].first == k) {
        if (bound[i]) fail("macro '" + s.name + "' got multiple values for argument '" + k + "'");
        f->vars[k] = v;
        bound[i] = matched = true;
      }
    }
    if (!matched) {
      if (k == "caller") f->vars["caller"] = v;
      else kwargs.obj().set(k, v);
    }
  }
  for (size_t i = 0; i < s.params.size(); ++i) {
    if (bound[i]) continue;
    f->vars[s.params[i].first] =
        s.params[i].second ? eval(*s.params[i].second) : Value::undefined(s.params[i].first);
  }
  f->vars["varargs"] = varargs;
  f->vars["kwargs"] = kwargs;
  std::string out;
  exec_body(s.body, out);
  return Value(std::move(out));
}

void Evaluator::exec_call_block(const Stmt& s, std::string& out) {
  // The caller() function renders the call block's body with its own parameters.
  const Stmt* def = &s;
  std::weak_ptr<Frame> weak = frame_;
  Value caller = Value::function("caller", [def, weak](Evaluator& ev, CallArgs& args) -> Value {
    std::shared_ptr<Frame> parent = weak.lock();
    if (!parent) parent = ev.root_;
    return ev.invoke_macro(*def, parent, args);
  });
  const Expr& call_expr = *s.expr;
  Value fn = eval(*call_expr.children[0]);
  CallArgs args;
  eval_args(call_expr, 1, args);
  args.kwargs.emplace_back("caller", caller);
  append_out(out, call(fn, args).to_str());
}

}  // namespace dari::jinja
