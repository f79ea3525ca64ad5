// Evaluator: expressions, attribute/item access, calls (see evaluator.h).
#include "dari/core/strings.h"
#include "template/evaluator.h"

namespace dari::jinja {

[[noreturn]] void undefined_error(const Value& v) {
  if (v.str_ref().empty()) fail("value is undefined");
  fail(v.str_ref());
}

Value Evaluator::lookup(const std::string& name) {
  const Value* v = frame_->lookup(name);
  if (v) return *v;
  return Value::undefined("'" + name + "' is undefined");
}

Value Evaluator::eval(const Expr& e) {
  DepthGuard guard(*this);
  step();
  try {
    switch (e.kind) {
      case ExprKind::kLiteral: return e.literal;
      case ExprKind::kName: return lookup(e.name);
      case ExprKind::kList:
      case ExprKind::kTuple: {
        Value list = Value::array();
        list.arr().tuple = e.kind == ExprKind::kTuple;
        for (const auto& c : e.children) list.arr().items.push_back(eval(*c));
        return list;
      }
      case ExprKind::kDict: {
        Value dict = Value::object();
        for (size_t i = 0; i + 1 < e.children.size(); i += 2) {
          Value k = eval(*e.children[i]);
          if (k.is_undefined()) undefined_error(k);
          dict.obj().set(k.to_str(), eval(*e.children[i + 1]));
        }
        return dict;
      }
      case ExprKind::kUnary: {
        Value v = eval(*e.children[0]);
        if (e.name == "not") return Value(!v.truthy());
        if (v.is_undefined()) undefined_error(v);
        if (e.name == "+") {
          if (!v.is_number()) fail(std::string("bad operand type for unary +: '") + v.type_name() + "'");
          return v.is_bool() ? Value(v.as_int()) : v;
        }
        if (v.is_float()) return Value(-v.as_double());
        return binary_op(*this, "-", Value(int64_t{0}), v);
      }
      case ExprKind::kBinary: return eval_binary(e);
      case ExprKind::kAnd: {
        Value l = eval(*e.children[0]);
        return l.truthy() ? eval(*e.children[1]) : l;
      }
      case ExprKind::kOr: {
        Value l = eval(*e.children[0]);
        return l.truthy() ? l : eval(*e.children[1]);
      }
      case ExprKind::kCompare: return eval_compare(e);
      case ExprKind::kCond:
        if (eval(*e.children[1]).truthy()) return eval(*e.children[0]);
        return e.children.size() > 2 ? eval(*e.children[2]) : Value::undefined("conditional expression had no else branch");
      case ExprKind::kGetAttr: return get_attr(eval(*e.children[0]), e.name);
      case ExprKind::kGetItem: return get_item(eval(*e.children[0]), eval(*e.children[1]));
      case ExprKind::kSlice: return eval_slice(e);
      case ExprKind::kCall: return eval_call(e);
      case ExprKind::kFilter: return eval_filter(e);
      case ExprKind::kTest: return Value(eval_test(e) != e.negated);
    }
  } catch (TemplateError& err) {
    if (err.line == 0) {
      err.line = e.line;
      err.col = e.col;
    }
    throw;
  }
  return Value();
}

Value Evaluator::eval_binary(const Expr& e) {
  Value a = eval(*e.children[0]);
  Value b = eval(*e.children[1]);
  return binary_op(*this, e.name, a, b);
}

Value Evaluator::eval_compare(const Expr& e) {
  Value left = eval(*e.children[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.children[i + 1]);
    const std::string& op = e.ops[i];
    bool r = false;
    if (op == "==") r = left.equals(right);
    else if (op == "!=") r = !left.equals(right);
    else if (op == "in") r = contains(right, left);
    else if (op == "notin") r = !contains(right, left);
    else {
      if (left.is_undefined()) undefined_error(left);
      if (right.is_undefined()) undefined_error(right);
      int c = left.compare(right);
      r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
    }
    if (!r) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

void Evaluator::eval_args(const Expr& e, size_t first, CallArgs& args) {
  for (size_t i = first; i < e.children.size(); ++i) args.args.push_back(eval(*e.children[i]));
  for (const auto& [k, v] : e.kwargs) args.kwargs.emplace_back(k, eval(*v));
}

Value Evaluator::eval_call(const Expr& e) {
  Value fn = eval(*e.children[0]);
  CallArgs args;
  eval_args(e, 1, args);
  return call(fn, args);
}

Value Evaluator::call(const Value& fn, CallArgs& args) {
  if (fn.is_undefined()) undefined_error(fn);
  if (!fn.is_function()) fail(std::string("'") + fn.type_name() + "' object is not callable");
  DepthGuard guard(*this);
  return fn.fn().fn(*this, args);
}

Value Evaluator::eval_slice(const Expr& e) {
  Value base = eval(*e.children[0]);
  Value parts[3];
  for (int i = 0; i < 3; ++i) {
    const ExprPtr& p = e.children[static_cast<size_t>(i) + 1];
    parts[i] = p ? eval(*p) : Value::none();
  }
  return slice_value(*this, base, parts[0], parts[1], parts[2]);
}

Value Evaluator::eval_filter(const Expr& e) {
  Value input = eval(*e.children[0]);
  CallArgs args;
  eval_args(e, 1, args);
  return apply_filter(*this, e.name, input, args);
}

Value Evaluator::apply_filter_chain(const Expr& chain, Value input) {
  if (chain.kind != ExprKind::kFilter) return input;
  if (chain.children[0]) input = apply_filter_chain(*chain.children[0], std::move(input));
  CallArgs args;
  eval_args(chain, 1, args);
  return apply_filter(*this, chain.name, input, args);
}

bool Evaluator::eval_test(const Expr& e) {
  Value v = eval(*e.children[0]);
  CallArgs args;
  eval_args(e, 1, args);
  return apply_test(*this, e.name, v, args);
}

Value Evaluator::get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.is_object()) {
    if (obj.obj().kind == ObjectKind::kDict) {
      Value m = get_method(obj, name);
      if (!m.is_undefined()) return m;
    }
    const Value* v = obj.obj().find(name);
    if (v) return *v;
    return Value::undefined(std::string("'") + obj.type_name() + " object' has no attribute '" + name + "'");
  }
  Value m = get_method(obj, name);
  if (!m.is_undefined()) return m;
  return Value::undefined(std::string("'") + obj.type_name() + " object' has no attribute '" + name + "'");
}

Value Evaluator::get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.is_object()) {
    if (key.is_string()) {
      const Value* v = obj.obj().find(key.str_ref());
      if (v) return *v;
      if (obj.obj().kind == ObjectKind::kDict) {
        Value m = get_method(obj, key.str_ref());
        if (!m.is_undefined()) return m;
      }
    }
    return Value::undefined(std::string("'") + obj.type_name() + " object' has no attribute '" + key.to_str() + "'");
  }
  if ((obj.is_array() && !obj.is_generator()) || obj.is_string()) {
    if (key.is_int() || key.is_bool()) {
      Value r = slice_value(*this, obj, key, Value::none(), Value::none());
      int64_t idx = key.as_int();
      int64_t len = obj.is_array() ? static_cast<int64_t>(obj.arr().items.size())
                                   : static_cast<int64_t>(utf8_length(obj.str_ref()));
      if (idx < 0) idx += len;
      if (idx < 0 || idx >= len)
        return Value::undefined(std::string("'") + obj.type_name() + " object' has no element " + key.to_str());
      if (obj.is_array()) return obj.arr().items[static_cast<size_t>(idx)];
      const auto& s = r.str_ref();  // suffix starting at idx; keep its first code point
      size_t n = 1;
      while (n < s.size() && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) ++n;
      return same_string_kind(obj, s.substr(0, n));  // Markup.__getitem__ keeps markup
    }
  }
  if (key.is_string()) {
    Value m = get_method(obj, key.str_ref());
    if (!m.is_undefined()) return m;
  }
  return Value::undefined(std::string("'") + obj.type_name() + " object' has no element " + key.to_str());
}

std::vector<Value> Evaluator::iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return {};
    case Value::Kind::kArray: return v.arr().items;
    case Value::Kind::kObject: {
      if (v.obj().kind != ObjectKind::kDict) fail(std::string("'") + v.type_name() + "' object is not iterable");
      std::vector<Value> keys;
      keys.reserve(v.obj().items.size());
      for (const auto& kv : v.obj().items) keys.emplace_back(kv.first);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      std::string cur;
      for (uint32_t cp : utf8_decode(v.str_ref())) {
        cur.clear();
        utf8_append(cur, cp);
        chars.emplace_back(cur);
      }
      return chars;
    }
    default: fail(std::string("'") + v.type_name() + "' object is not iterable");
  }
}

}  // namespace dari::jinja
