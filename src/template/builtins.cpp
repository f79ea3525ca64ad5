// Jinja tests (`is ...`) and global functions (range, namespace, dict, raise_exception,
// strftime_now, joiner).
#include <ctime>
#include <unordered_map>

#include "dari/core/strings.h"
#include "template/evaluator.h"
#include "template/text.h"

namespace dari::jinja {
namespace {

using TestFn = bool (*)(Evaluator&, const Value&, CallArgs&);

const Value& need_arg(const CallArgs& a, const char* test) {
  if (a.args.empty()) fail(std::string("test '") + test + "' needs an argument");
  return a.args[0];
}

bool t_defined(Evaluator&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Evaluator&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Evaluator&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(Evaluator&, const Value& v, CallArgs&) { return v.is_bool(); }
bool t_true(Evaluator&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_false(Evaluator&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_escaped(Evaluator&, const Value& v, CallArgs&) { return v.is_markup(); }  // has __html__
bool t_integer(Evaluator&, const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(Evaluator&, const Value& v, CallArgs&) { return v.is_float(); }
bool t_number(Evaluator&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_string(Evaluator&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(Evaluator&, const Value& v, CallArgs&) { return v.is_dict(); }
bool t_callable(Evaluator&, const Value& v, CallArgs&) { return v.is_function(); }
bool t_iterable(Evaluator&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || v.is_array() || v.is_dict();
}
bool t_sequence(Evaluator&, const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || (v.is_array() && !v.is_generator()) || v.is_dict();
}
bool t_eq(Evaluator&, const Value& v, CallArgs& a) { return v.equals(need_arg(a, "eq")); }
bool t_ne(Evaluator&, const Value& v, CallArgs& a) { return !v.equals(need_arg(a, "ne")); }
bool t_lt(Evaluator&, const Value& v, CallArgs& a) { return v.compare(need_arg(a, "lt")) < 0; }
bool t_le(Evaluator&, const Value& v, CallArgs& a) { return v.compare(need_arg(a, "le")) <= 0; }
bool t_gt(Evaluator&, const Value& v, CallArgs& a) { return v.compare(need_arg(a, "gt")) > 0; }
bool t_ge(Evaluator&, const Value& v, CallArgs& a) { return v.compare(need_arg(a, "ge")) >= 0; }
bool t_in(Evaluator&, const Value& v, CallArgs& a) { return contains(need_arg(a, "in"), v); }
bool t_sameas(Evaluator&, const Value& v, CallArgs& a) {
  const Value& o = need_arg(a, "sameas");
  if (v.kind() != o.kind()) return false;
  if (v.is_array()) return v.arr_ptr() == o.arr_ptr();
  if (v.is_object()) return v.obj_ptr() == o.obj_ptr();
  if (v.is_none() || v.is_undefined()) return true;
  if (v.is_bool()) return v.as_bool() == o.as_bool();
  return v.equals(o);
}
int64_t int_of(const Value& v, const char* test) {
  if (!v.is_int() && !v.is_bool()) fail(std::string("test '") + test + "' needs an integer");
  return v.as_int();
}
bool t_even(Evaluator&, const Value& v, CallArgs&) { return int_of(v, "even") % 2 == 0; }
bool t_odd(Evaluator&, const Value& v, CallArgs&) { return int_of(v, "odd") % 2 != 0; }
bool t_divisibleby(Evaluator&, const Value& v, CallArgs& a) {
  int64_t d = int_of(need_arg(a, "divisibleby"), "divisibleby");
  if (d == 0) fail("integer modulo by zero");
  if (d == -1) return true;
  return int_of(v, "divisibleby") % d == 0;
}
bool t_lower(Evaluator&, const Value& v, CallArgs&) { return v.is_string() && py_lower(v.str_ref()) == v.str_ref(); }
bool t_upper(Evaluator&, const Value& v, CallArgs&) { return v.is_string() && py_upper(v.str_ref()) == v.str_ref(); }
bool t_filter(Evaluator&, const Value& v, CallArgs&) { return v.is_string() && has_filter(v.str_ref()); }
bool t_test(Evaluator&, const Value& v, CallArgs&) { return v.is_string() && has_test(v.str_ref()); }

const std::unordered_map<std::string, TestFn>& test_table() {
  static const std::unordered_map<std::string, TestFn> table = {
      {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},
      {"boolean", t_boolean}, {"true", t_true}, {"false", t_false}, {"integer", t_integer},
      {"float", t_float}, {"number", t_number}, {"string", t_string}, {"mapping", t_mapping},
      {"callable", t_callable}, {"iterable", t_iterable}, {"sequence", t_sequence},
      {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"ne", t_ne}, {"!=", t_ne},
      {"lt", t_lt}, {"lessthan", t_lt}, {"<", t_lt}, {"le", t_le}, {"<=", t_le},
      {"gt", t_gt}, {"greaterthan", t_gt}, {">", t_gt}, {"ge", t_ge}, {">=", t_ge},
      {"in", t_in}, {"sameas", t_sameas}, {"even", t_even}, {"odd", t_odd},
      {"divisibleby", t_divisibleby}, {"lower", t_lower}, {"upper", t_upper},
      {"filter", t_filter}, {"test", t_test}, {"escaped", t_escaped},
  };
  return table;
}

Value g_range(Evaluator& ev, CallArgs& a) {
  if (a.args.empty() || a.args.size() > 3) fail("range() takes 1 to 3 integer arguments");
  int64_t v[3] = {0, 0, 1};
  for (size_t i = 0; i < a.args.size(); ++i) {
    if (!a.args[i].is_int() && !a.args[i].is_bool()) fail("range() arguments must be integers");
  }
  if (a.args.size() == 1) {
    v[1] = a.args[0].as_int();
  } else {
    v[0] = a.args[0].as_int();
    v[1] = a.args[1].as_int();
    if (a.args.size() == 3) v[2] = a.args[2].as_int();
  }
  if (v[2] == 0) fail("range() arg 3 must not be zero");
  // Count without overflow: work in long double-free unsigned arithmetic.
  uint64_t count = 0;
  if (v[2] > 0 && v[0] < v[1]) {
    count = (static_cast<uint64_t>(v[1]) - static_cast<uint64_t>(v[0]) - 1) / static_cast<uint64_t>(v[2]) + 1;
  } else if (v[2] < 0 && v[0] > v[1]) {
    count = (static_cast<uint64_t>(v[0]) - static_cast<uint64_t>(v[1]) - 1) /
                (static_cast<uint64_t>(-(v[2] + 1)) + 1) + 1;
  }
  ev.check_items(count);
  Value out = Value::array();
  int64_t x = v[0];
  for (uint64_t i = 0; i < count; ++i, x += (i < count ? v[2] : 0)) out.arr().items.emplace_back(x);
  return out;
}

Value g_namespace(Evaluator&, CallArgs& a) {
  Value ns = Value::object(ObjectKind::kNamespace);
  for (const Value& pos : a.args) {
    if (!pos.is_dict()) fail("namespace() positional argument must be a dict");
    for (const auto& [k, v] : pos.obj().items) ns.obj().set(k, v);
  }
  for (const auto& [k, v] : a.kwargs) ns.obj().set(k, v);
  return ns;
}

Value g_dict(Evaluator&, CallArgs& a) {
  Value d = Value::object();
  for (const Value& pos : a.args) {
    if (!pos.is_object()) fail("dict() positional argument must be a mapping");
    for (const auto& [k, v] : pos.obj().items) d.obj().set(k, v);
  }
  for (const auto& [k, v] : a.kwargs) d.obj().set(k, v);
  return d;
}

Value g_raise_exception(Evaluator&, CallArgs& a) {
  fail(a.args.empty() ? std::string("raise_exception() called") : a.args[0].to_str());
}

Value g_strftime_now(Evaluator& ev, CallArgs& a) {
  if (a.args.empty() || !a.args[0].is_string()) fail("strftime_now() needs a format string");
  const std::string& fmt = a.args[0].str_ref();
  if (fmt.size() > 256) fail("strftime_now() format string too long");
  auto t = static_cast<std::time_t>(ev.now_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[1024];
  size_t n = std::strftime(buf, sizeof(buf), fmt.c_str(), &tm);
  return Value(std::string(buf, n));
}

Value g_joiner(Evaluator&, CallArgs& a) {
  std::string sep = arg_or(a, 0, "sep", Value(", ")).to_str();
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [sep, used](Evaluator&, CallArgs&) -> Value {
    if (!*used) {
      *used = true;
      return Value(std::string());
    }
    return Value(sep);
  });
}

}  // namespace

bool has_test(const std::string& name) { return test_table().count(name) != 0; }

bool apply_test(Evaluator& ev, const std::string& name, const Value& v, CallArgs& args) {
  auto it = test_table().find(name);
  if (it == test_table().end()) fail("no test named '" + name + "'");
  return it->second(ev, v, args);
}

void install_globals(Frame& frame) {
  frame.vars["range"] = Value::function("range", g_range);
  frame.vars["namespace"] = Value::function("namespace", g_namespace);
  frame.vars["dict"] = Value::function("dict", g_dict);
  frame.vars["raise_exception"] = Value::function("raise_exception", g_raise_exception);
  frame.vars["strftime_now"] = Value::function("strftime_now", g_strftime_now);
  frame.vars["joiner"] = Value::function("joiner", g_joiner);
}

}  // namespace dari::jinja
