// Value: construction, conversion, printing (str/repr/json) and comparison.
#include "template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace dari::jinja {

void fail(std::string message) { throw TemplateError{std::move(message), 0, 0}; }

namespace {

// Iterative teardown: while one release loop runs on this thread, nested containers whose last
// reference is being dropped hand their children to that loop instead of recursing.
thread_local std::vector<Value>* g_pending = nullptr;

void release_children(std::vector<Value>&& children) {
  if (g_pending) {
    for (auto& v : children)
      if (v.is_array() || v.is_object()) g_pending->push_back(std::move(v));
    return;
  }
  std::vector<Value> stack;
  g_pending = &stack;
  for (auto& v : children)
    if (v.is_array() || v.is_object()) stack.push_back(std::move(v));
  while (!stack.empty()) {
    Value v = std::move(stack.back());
    stack.pop_back();
    // Dropping `v` here may run ~Array/~Object, which appends to `stack` (no recursion).
    if (v.is_array()) v.take_array().reset();
    else if (v.is_object()) v.take_object().reset();
  }
  g_pending = nullptr;
}

}  // namespace

Array::~Array() { release_children(std::move(items)); }

Object::~Object() {
  std::vector<Value> children;
  children.reserve(items.size());
  for (auto& kv : items) children.push_back(std::move(kv.second));
  release_children(std::move(children));
}

const Value* Object::find(const std::string& key) const {
  auto it = index.find(key);
  return it == index.end() ? nullptr : &items[it->second].second;
}

void Object::set(const std::string& key, Value v) {
  auto it = index.find(key);
  if (it != index.end()) {
    items[it->second].second = std::move(v);
    return;
  }
  index.emplace(key, items.size());
  items.emplace_back(key, std::move(v));
}

bool Object::erase(const std::string& key) {
  auto it = index.find(key);
  if (it == index.end()) return false;
  items.erase(items.begin() + static_cast<std::ptrdiff_t>(it->second));
  index.clear();
  for (size_t i = 0; i < items.size(); ++i) index.emplace(items[i].first, i);
  return true;
}

Value Value::undefined(std::string hint) {
  Value v;
  v.s_ = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}
Value::Value(bool b) : kind_(Kind::kBool), b_(b) {}
Value::Value(int64_t i) : kind_(Kind::kInt), i_(i) {}
Value::Value(double d) : kind_(Kind::kFloat), f_(d) {}
Value::Value(std::string s) : kind_(Kind::kString), s_(std::move(s)) {}
Value::Value(std::shared_ptr<Array> a) : kind_(Kind::kArray), arr_(std::move(a)) {}
Value::Value(std::shared_ptr<Object> o) : kind_(Kind::kObject), obj_(std::move(o)) {}
Value::Value(std::shared_ptr<Function> f) : kind_(Kind::kFunction), fn_(std::move(f)) {}

Value Value::markup(std::string s) {
  Value v(std::move(s));
  v.markup_ = true;
  return v;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

Value markup_escape(const Value& v) {
  if (v.is_markup()) return v;
  return Value::markup(html_escape(v.to_str()));
}

Value same_string_kind(const Value& like, std::string s) {
  return like.is_markup() ? Value::markup(std::move(s)) : Value(std::move(s));
}

Value Value::array(std::vector<Value> items, bool generator) {
  auto a = std::make_shared<Array>();
  a->items = std::move(items);
  a->generator = generator;
  return Value(std::move(a));
}

Value Value::tuple(std::vector<Value> items) {
  Value v = array(std::move(items));
  v.arr().tuple = true;
  return v;
}

Value Value::object(ObjectKind kind) {
  auto o = std::make_shared<Object>();
  o->kind = kind;
  return Value(std::move(o));
}

Value Value::function(std::string name, std::function<Value(Evaluator&, CallArgs&)> fn) {
  auto f = std::make_shared<Function>();
  f->name = std::move(name);
  f->fn = std::move(fn);
  return Value(std::move(f));
}

Value Value::from_json(const Json& j, int depth) {
  if (depth > kMaxValueDepth) fail("JSON input nested deeper than " + std::to_string(kMaxValueDepth));
  switch (j.type()) {
    case Json::value_t::null: return none();
    case Json::value_t::boolean: return Value(j.get<bool>());
    case Json::value_t::number_integer: return Value(j.get<int64_t>());
    case Json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float: return Value(j.get<double>());
    case Json::value_t::string: return Value(j.get<std::string>());
    case Json::value_t::array: {
      Value a = array();
      a.arr().items.reserve(j.size());
      for (const auto& e : j) a.arr().items.push_back(from_json(e, depth + 1));
      return a;
    }
    case Json::value_t::object: {
      Value o = object();
      for (const auto& [k, e] : j.items()) o.obj().set(k, from_json(e, depth + 1));
      return o;
    }
    default: return none();  // binary / discarded: not produced by the JSON parser
  }
}

double Value::as_double() const {
  if (kind_ == Kind::kFloat) return f_;
  if (kind_ == Kind::kBool) return b_ ? 1.0 : 0.0;
  return static_cast<double>(i_);
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return b_;
    case Kind::kInt: return i_ != 0;
    case Kind::kFloat: return f_ != 0.0;
    case Kind::kString: return !s_.empty();
    case Kind::kArray: return arr_->generator || !arr_->items.empty();
    case Kind::kObject: return obj_->kind != ObjectKind::kDict || !obj_->items.empty();
    case Kind::kFunction: return true;
  }
  return false;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kArray: return arr_->generator ? "generator" : (arr_->tuple ? "tuple" : "list");
    case Kind::kObject:
      return obj_->kind == ObjectKind::kDict ? "dict"
             : obj_->kind == ObjectKind::kNamespace ? "Namespace" : "LoopContext";
    case Kind::kFunction: return "function";
  }
  return "?";
}

std::string format_python_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  // sci: [-]D[.DDD]e[+-]XX
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp10 = std::atoi(sci.c_str() + e + 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits.push_back(c);
  int decpt = exp10 + 1;  // position of the decimal point relative to digits
  std::string out = neg ? "-" : "";
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char eb[16];
  std::snprintf(eb, sizeof(eb), "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
  return out + eb;
}

std::string python_string_repr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == q || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char b[16];
      std::snprintf(b, sizeof(b), "\\x%02x", static_cast<unsigned>(c));
      out += b;
    } else {
      out.push_back(ch);
    }
  }
  out.push_back(q);
  return out;
}

void Value::repr_into(std::string& out, int depth) const {
  if (depth > kMaxValueDepth) fail("value nested too deeply to print");
  switch (kind_) {
    case Kind::kString:
      if (markup_) out += "Markup(";
      out += python_string_repr(s_);
      if (markup_) out += ")";
      return;
    case Kind::kArray:
      if (arr_->generator) {
        out += "<generator object>";
        return;
      }
      out.push_back(arr_->tuple ? '(' : '[');
      for (size_t i = 0; i < arr_->items.size(); ++i) {
        if (i) out += ", ";
        arr_->items[i].repr_into(out, depth + 1);
      }
      if (arr_->tuple && arr_->items.size() == 1) out.push_back(',');
      out.push_back(arr_->tuple ? ')' : ']');
      return;
    case Kind::kObject: {
      if (obj_->kind == ObjectKind::kNamespace) out += "<Namespace ";
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : obj_->items) {
        if (!first) out += ", ";
        first = false;
        out += python_string_repr(k);
        out += ": ";
        v.repr_into(out, depth + 1);
      }
      out.push_back('}');
      if (obj_->kind == ObjectKind::kNamespace) out.push_back('>');
      return;
    }
    case Kind::kUndefined: return;  // str(Undefined) is ""
    default: out += to_str(); return;
  }
}

std::string Value::to_str() const {
  switch (kind_) {
    case Kind::kUndefined: return "";
    case Kind::kNone: return "None";
    case Kind::kBool: return b_ ? "True" : "False";
    case Kind::kInt: return std::to_string(i_);
    case Kind::kFloat: return format_python_float(f_);
    case Kind::kString: return s_;
    case Kind::kFunction: return "<function " + fn_->name + ">";
    default: {
      std::string out;
      repr_into(out, 0);
      return out;
    }
  }
}

std::string Value::repr() const {
  std::string out;
  repr_into(out, 0);
  return out;
}

bool Value::equals(const Value& other, int depth) const {
  if (depth > kMaxValueDepth) fail("values nested too deeply to compare");
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) return as_double() == other.as_double();
    return as_int() == other.as_int();
  }
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return s_ == other.s_;
    case Kind::kArray: {
      if (arr_ == other.arr_) return true;
      if (arr_->generator || other.arr_->generator) return false;
      if (arr_->items.size() != other.arr_->items.size()) return false;
      for (size_t i = 0; i < arr_->items.size(); ++i)
        if (!arr_->items[i].equals(other.arr_->items[i], depth + 1)) return false;
      return true;
    }
    case Kind::kObject: {
      if (obj_ == other.obj_) return true;
      if (obj_->kind != ObjectKind::kDict || other.obj_->kind != ObjectKind::kDict) return false;
      if (obj_->items.size() != other.obj_->items.size()) return false;
      for (const auto& [k, v] : obj_->items) {
        const Value* o = other.obj_->find(k);
        if (!o || !v.equals(*o, depth + 1)) return false;
      }
      return true;
    }
    case Kind::kFunction: return fn_ == other.fn_;
    default: return false;
  }
}

int Value::compare(const Value& other, int depth) const {
  if (depth > kMaxValueDepth) fail("values nested too deeply to compare");
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) {
      double a = as_double(), b = other.as_double();
      return a < b ? -1 : (a > b ? 1 : 0);
    }
    int64_t a = as_int(), b = other.as_int();
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  if (is_string() && other.is_string()) {
    int c = s_.compare(other.s_);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (is_array() && other.is_array() && !arr_->generator && !other.arr_->generator) {
    const auto& a = arr_->items;
    const auto& b = other.arr_->items;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!a[i].equals(b[i], depth + 1)) return a[i].compare(b[i], depth + 1);
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }
  fail(std::string("'<' not supported between instances of '") + type_name() + "' and '" +
       other.type_name() + "'");
}

bool Value::reaches(const void* target, int depth) const {
  if (depth > kMaxValueDepth) return true;  // treat absurd depth as a cycle risk
  // Functions may capture containers (bound methods); refuse them conservatively.
  if (kind_ == Kind::kFunction) return true;
  if (kind_ == Kind::kArray) {
    if (arr_.get() == target) return true;
    for (const auto& v : arr_->items)
      if (v.reaches(target, depth + 1)) return true;
  } else if (kind_ == Kind::kObject) {
    if (obj_.get() == target) return true;
    for (const auto& kv : obj_->items)
      if (kv.second.reaches(target, depth + 1)) return true;
  }
  return false;
}

}  // namespace dari::jinja
