// Jinja filters (Python Jinja 3.1 semantics; tojson as Hugging Face transformers defines it).
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "dari/core/strings.h"
#include "template/evaluator.h"
#include "template/text.h"

namespace dari::jinja {
namespace {

using FilterFn = Value (*)(Evaluator&, const Value&, CallArgs&);

int64_t int_arg(const CallArgs& a, size_t pos, const char* name, int64_t def) {
  const Value* v = find_arg(a, pos, name);
  if (!v || v->is_none()) return def;
  if (!v->is_int() && !v->is_bool()) fail(std::string("argument '") + name + "' must be an integer");
  return v->as_int();
}

bool bool_arg(const CallArgs& a, size_t pos, const char* name, bool def) {
  const Value* v = find_arg(a, pos, name);
  return v ? v->truthy() : def;
}

// Looks up "a.b.c" (dotted attribute path, integer parts index lists) like Jinja's make_attrgetter.
Value attr_path(Evaluator& ev, const Value& item, const Value& attribute) {
  if (attribute.is_int()) return ev.get_item(item, attribute);
  Value cur = item;
  for (const std::string& part : split(attribute.to_str(), '.')) {
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && part.size() < 18) cur = ev.get_item(cur, Value(static_cast<int64_t>(std::stoll(part))));
    else cur = ev.get_item(cur, Value(part));
    if (cur.is_undefined()) break;
  }
  return cur;
}

Value f_length(Evaluator&, const Value& v, CallArgs&) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return Value(int64_t{0});
    case Value::Kind::kString: return Value(static_cast<int64_t>(utf8_length(v.str_ref())));
    case Value::Kind::kArray:
      if (v.is_generator()) fail("object of type 'generator' has no len()");
      return Value(static_cast<int64_t>(v.arr().items.size()));
    case Value::Kind::kObject: return Value(static_cast<int64_t>(v.obj().items.size()));
    default: fail(std::string("object of type '") + v.type_name() + "' has no len()");
  }
}

Value f_tojson(Evaluator& ev, const Value& v, CallArgs& a) {
  Value::JsonOptions opt;
  const Value* indent = find_arg(a, 0, "indent");
  if (indent && !indent->is_none()) {
    if (!indent->is_int()) fail("tojson: indent must be an integer");
    opt.indent = static_cast<int>(std::clamp<int64_t>(indent->as_int(), 0, 64));
    opt.item_sep = std::string(1, ',');
  }
  if (const Value* seps = find_arg(a, 99, "separators"); seps && !seps->is_none()) {
    if (!seps->is_array() || seps->arr().items.size() != 2) fail("tojson: separators must be a pair");
    opt.item_sep = seps->arr().items[0].to_str();
    opt.key_sep = seps->arr().items[1].to_str();
  }
  opt.ensure_ascii = bool_arg(a, 99, "ensure_ascii", false);
  opt.sort_keys = bool_arg(a, 99, "sort_keys", false);
  std::string s = v.to_json(opt);
  ev.check_string(s.size());
  return Value(std::move(s));
}

Value f_default(Evaluator&, const Value& v, CallArgs& a) {
  Value def = arg_or(a, 0, "default_value", Value(std::string()));
  bool boolean = bool_arg(a, 1, "boolean", false);
  if (v.is_undefined() || (boolean && !v.truthy())) return def;
  return v;
}

// Markup.strip(chars) escapes a string `chars` first (markupsafe's _simple_escaping_wrapper).
Value markup_chars_arg(const Value& self, Value chars) {
  return self.is_markup() && chars.is_string() ? markup_escape(chars) : chars;
}

// soft_str(value).strip(chars): markup stays markup.
Value f_trim(Evaluator&, const Value& v, CallArgs& a) {
  Value chars = markup_chars_arg(v, arg_or(a, 0, "chars", Value::none()));
  return same_string_kind(v, py_strip(v.to_str(), chars, true, true));
}

Value f_format(Evaluator& ev, const Value& v, CallArgs& a) {
  std::vector<Value> args = a.args;
  if (args.empty() && !a.kwargs.empty()) {
    Value d = Value::object();
    for (const auto& [k, val] : a.kwargs) d.obj().set(k, val);
    args.push_back(d);
  }
  // soft_str(value) % args: a markup format string escapes its arguments.
  return same_string_kind(v, percent_format(ev, v.to_str(), args, v.is_markup()));
}

// soft_str: markup stays markup.
Value f_string(Evaluator&, const Value& v, CallArgs&) { return v.is_markup() ? v : Value(v.to_str()); }
// Markup(value): printed the same, but `+`, `%`, join, ... with it escape plain strings.
Value f_safe(Evaluator&, const Value& v, CallArgs&) { return v.is_markup() ? v : Value::markup(v.to_str()); }
// upper / lower / capitalize call the Markup methods (markup in, markup out); title joins plain
// strings, so its result is plain.
Value f_upper(Evaluator&, const Value& v, CallArgs&) { return same_string_kind(v, py_upper(v.to_str())); }
Value f_lower(Evaluator&, const Value& v, CallArgs&) { return same_string_kind(v, py_lower(v.to_str())); }
Value f_title(Evaluator&, const Value& v, CallArgs&) { return Value(py_title(v.to_str())); }
Value f_capitalize(Evaluator&, const Value& v, CallArgs&) { return same_string_kind(v, py_capitalize(v.to_str())); }
Value f_pprint(Evaluator&, const Value& v, CallArgs&) { return Value(v.repr()); }

Value f_items(Evaluator&, const Value& v, CallArgs&) {
  if (v.is_undefined()) return Value::array();
  if (!v.is_object()) fail("Can only get item pairs from a mapping.");
  Value out = Value::array();
  for (const auto& [k, val] : v.obj().items) out.arr().items.push_back(Value::tuple({Value(k), val}));
  return out;
}

Value f_list(Evaluator& ev, const Value& v, CallArgs&) { return Value::array(ev.iterate(v)); }

Value f_first(Evaluator& ev, const Value& v, CallArgs&) {
  std::vector<Value> items = ev.iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_generator()) fail("'generator' object is not reversible");
  std::vector<Value> items = ev.iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_join(Evaluator& ev, const Value& v, CallArgs& a) {
  std::string sep = arg_or(a, 0, "d", Value(std::string())).to_str();
  Value attribute = arg_or(a, 1, "attribute", Value::none());
  std::string out;
  bool first = true;
  for (const Value& item : ev.iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += (attribute.is_none() ? item : attr_path(ev, item, attribute)).to_str();
    ev.check_string(out.size());
  }
  return Value(std::move(out));
}

Value f_replace(Evaluator& ev, const Value& v, CallArgs& a) {
  const Value* from = find_arg(a, 0, "old");
  const Value* to = find_arg(a, 1, "new");
  if (!from || !to) fail("replace() needs 'old' and 'new' arguments");
  return Value(py_replace(v.to_str(), from->to_str(), to->to_str(), int_arg(a, 2, "count", -1),
                          ev.limits().max_output_bytes));
}

Value f_indent(Evaluator&, const Value& v, CallArgs& a) {
  Value width = arg_or(a, 0, "width", Value(int64_t{4}));
  std::string ind = width.is_string() ? width.str_ref()
                                      : std::string(static_cast<size_t>(std::clamp<int64_t>(width.as_int(), 0, 256)), ' ');
  // Jinja's do_indent makes its newline and indent markup for markup input: markup stays markup.
  return same_string_kind(v, jinja_indent(v.to_str(), ind, bool_arg(a, 1, "first", false), bool_arg(a, 2, "blank", false)));
}

Value f_int(Evaluator&, const Value& v, CallArgs& a) {
  Value def = arg_or(a, 0, "default", Value(int64_t{0}));
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) {
    if (!std::isfinite(v.as_double()) || std::fabs(v.as_double()) > 9.2e18) return def;
    return Value(static_cast<int64_t>(v.as_double()));
  }
  if (v.is_string()) {
    std::string s = py_strip(v.str_ref(), Value::none(), true, true);
    if (s.find_first_of("xXpP") != std::string::npos) return def;  // Python int()/float() reject hex
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(i));
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0' && std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value(static_cast<int64_t>(d));
  }
  return def;
}

Value f_float(Evaluator&, const Value& v, CallArgs& a) {
  Value def = arg_or(a, 0, "default", Value(0.0));
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    std::string s = py_strip(v.str_ref(), Value::none(), true, true);
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end && *end == '\0') return Value(d);
  }
  return def;
}

Value f_abs(Evaluator&, const Value& v, CallArgs&) {
  if (v.is_float()) return Value(std::fabs(v.as_double()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) fail("integer overflow in abs");
    return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  fail(std::string("bad operand type for abs(): '") + v.type_name() + "'");
}

Value f_round(Evaluator&, const Value& v, CallArgs& a) {
  if (!v.is_number()) fail(std::string("round: expected a number, got ") + v.type_name());
  if (!v.is_float() && arg_or(a, 1, "method", Value("common")).to_str() == "common") return Value(v.as_int());
  int64_t prec = std::clamp<int64_t>(int_arg(a, 0, "precision", 0), -20, 20);
  std::string method = arg_or(a, 1, "method", Value("common")).to_str();
  double scale = std::pow(10.0, static_cast<double>(prec));
  double x = v.as_double() * scale;
  if (method == "common") x = std::nearbyint(x);
  else if (method == "floor") x = std::floor(x);
  else if (method == "ceil") x = std::ceil(x);
  else fail("round: method must be common, floor or ceil");
  return Value(x / scale);
}

// markupsafe.escape: markup is already safe and stays as it is.
Value f_escape(Evaluator&, const Value& v, CallArgs&) { return markup_escape(v); }
Value f_forceescape(Evaluator&, const Value& v, CallArgs&) { return Value::markup(html_escape(v.to_str())); }

Value f_wordcount(Evaluator&, const Value& v, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (uint32_t cp : utf8_decode(v.to_str())) {
    bool w = cp == '_' || (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp >= 0x80;
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value(n);
}

Value f_reverse(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_string()) {
    std::vector<uint32_t> cps = utf8_decode(v.str_ref());
    std::string out;
    for (auto it = cps.rbegin(); it != cps.rend(); ++it) utf8_append(out, *it);
    return same_string_kind(v, std::move(out));  // value[::-1] keeps markup
  }
  std::vector<Value> items = ev.iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::array(std::move(items), /*generator=*/true);
}

// Sort key: attribute lookup plus optional case folding.
Value sort_key(Evaluator& ev, const Value& item, const Value& attribute, bool case_sensitive) {
  Value k = attribute.is_none() ? item : attr_path(ev, item, attribute);
  if (!case_sensitive && k.is_string()) return Value(py_lower(k.str_ref()));
  return k;
}

Value f_sort(Evaluator& ev, const Value& v, CallArgs& a) {
  bool reverse = bool_arg(a, 0, "reverse", false);
  bool cs = bool_arg(a, 1, "case_sensitive", false);
  Value attribute = arg_or(a, 2, "attribute", Value::none());
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : ev.iterate(v)) keyed.emplace_back(sort_key(ev, item, attribute, cs), item);
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? x.first.compare(y.first) > 0 : x.first.compare(y.first) < 0;
  });
  Value out = Value::array();
  for (auto& kv : keyed) out.arr().items.push_back(std::move(kv.second));
  return out;
}

Value f_dictsort(Evaluator&, const Value& v, CallArgs& a) {
  if (!v.is_object()) fail("dictsort: expected a mapping");
  bool cs = bool_arg(a, 0, "case_sensitive", false);
  bool by_value = arg_or(a, 1, "by", Value("key")).to_str() == "value";
  bool reverse = bool_arg(a, 2, "reverse", false);
  std::vector<std::pair<Value, Value>> pairs;
  for (const auto& [k, val] : v.obj().items) pairs.emplace_back(Value(k), val);
  auto key = [&](const std::pair<Value, Value>& p) {
    const Value& x = by_value ? p.second : p.first;
    return (!cs && x.is_string()) ? Value(py_lower(x.str_ref())) : x;
  };
  std::stable_sort(pairs.begin(), pairs.end(), [&](const auto& x, const auto& y) {
    int c = key(x).compare(key(y));
    return reverse ? c > 0 : c < 0;
  });
  Value out = Value::array();
  for (auto& p : pairs) out.arr().items.push_back(Value::tuple({p.first, p.second}));
  return out;
}

Value f_unique(Evaluator& ev, const Value& v, CallArgs& a) {
  bool cs = bool_arg(a, 0, "case_sensitive", false);
  Value attribute = arg_or(a, 1, "attribute", Value::none());
  std::vector<Value> seen;
  Value out = Value::array({}, /*generator=*/true);
  for (Value& item : ev.iterate(v)) {
    Value k = sort_key(ev, item, attribute, cs);
    bool dup = std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(k); });
    if (dup) continue;
    seen.push_back(k);
    out.arr().items.push_back(item);
  }
  return out;
}

Value f_minmax(Evaluator& ev, const Value& v, CallArgs& a, bool want_max) {
  bool cs = bool_arg(a, 0, "case_sensitive", false);
  Value attribute = arg_or(a, 1, "attribute", Value::none());
  std::vector<Value> items = ev.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key = sort_key(ev, items[0], attribute, cs);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = sort_key(ev, items[i], attribute, cs);
    int c = k.compare(best_key);
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}
Value f_max(Evaluator& ev, const Value& v, CallArgs& a) { return f_minmax(ev, v, a, true); }
Value f_min(Evaluator& ev, const Value& v, CallArgs& a) { return f_minmax(ev, v, a, false); }

Value f_sum(Evaluator& ev, const Value& v, CallArgs& a) {
  Value attribute = arg_or(a, 0, "attribute", Value::none());
  Value total = arg_or(a, 1, "start", Value(int64_t{0}));
  for (const Value& item : ev.iterate(v))
    total = binary_op(ev, "+", total, attribute.is_none() ? item : attr_path(ev, item, attribute));
  return total;
}

Value f_batch(Evaluator& ev, const Value& v, CallArgs& a) {
  int64_t n = int_arg(a, 0, "linecount", 1);
  if (n <= 0) fail("batch: linecount must be positive");
  const Value* fill = find_arg(a, 1, "fill_with");
  Value out = Value::array();
  Value cur = Value::array();
  for (Value& item : ev.iterate(v)) {
    cur.arr().items.push_back(std::move(item));
    if (static_cast<int64_t>(cur.arr().items.size()) == n) {
      out.arr().items.push_back(cur);
      cur = Value::array();
    }
  }
  if (!cur.arr().items.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(cur.arr().items.size()) < n) cur.arr().items.push_back(*fill);
    out.arr().items.push_back(cur);
  }
  return out;
}

Value f_attr(Evaluator& ev, const Value& v, CallArgs& a) {
  const Value* name = find_arg(a, 0, "name");
  if (!name) fail("attr() needs a name");
  return ev.get_attr(v, name->to_str());
}

Value f_map(Evaluator& ev, const Value& v, CallArgs& a) {
  // Jinja guards with `if value:`, so None and other falsy inputs give an empty generator.
  std::vector<Value> items = v.truthy() ? ev.iterate(v) : std::vector<Value>{};
  Value out = Value::array({}, /*generator=*/true);
  if (const Value* attribute = find_arg(a, 99, "attribute")) {
    Value def = arg_or(a, 99, "default", Value());
    for (const Value& item : items) {
      Value r = attr_path(ev, item, *attribute);
      out.arr().items.push_back(r.is_undefined() && !def.is_undefined() ? def : r);
    }
    return out;
  }
  if (a.args.empty()) fail("map() needs a filter name or attribute=");
  std::string filter = a.args[0].to_str();
  CallArgs rest;
  rest.args.assign(a.args.begin() + 1, a.args.end());
  rest.kwargs = a.kwargs;
  for (const Value& item : items) {
    CallArgs copy = rest;
    out.arr().items.push_back(apply_filter(ev, filter, item, copy));
  }
  return out;
}

// select/reject/selectattr/rejectattr share this: keep items whose test result == `keep`.
Value select_common(Evaluator& ev, const Value& v, CallArgs& a, bool with_attr, bool keep) {
  size_t first = with_attr ? 1 : 0;
  Value attribute;
  if (with_attr) {
    if (a.args.empty()) fail("selectattr/rejectattr need an attribute name");
    attribute = a.args[0];
  }
  std::string test = a.args.size() > first ? a.args[first].to_str() : "";
  CallArgs rest;
  if (a.args.size() > first + 1) rest.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(first + 1), a.args.end());
  rest.kwargs = a.kwargs;
  Value out = Value::array({}, /*generator=*/true);
  if (!v.truthy()) return out;  // Jinja guards with `if value:`
  for (Value& item : ev.iterate(v)) {
    Value subject = with_attr ? attr_path(ev, item, attribute) : item;
    bool r;
    if (test.empty()) {
      r = subject.truthy();
    } else {
      CallArgs copy = rest;
      r = apply_test(ev, test, subject, copy);
    }
    if (r == keep) out.arr().items.push_back(std::move(item));
  }
  return out;
}
Value f_select(Evaluator& ev, const Value& v, CallArgs& a) { return select_common(ev, v, a, false, true); }
Value f_reject(Evaluator& ev, const Value& v, CallArgs& a) { return select_common(ev, v, a, false, false); }
Value f_selectattr(Evaluator& ev, const Value& v, CallArgs& a) { return select_common(ev, v, a, true, true); }
Value f_rejectattr(Evaluator& ev, const Value& v, CallArgs& a) { return select_common(ev, v, a, true, false); }

const std::unordered_map<std::string, FilterFn>& filter_table() {
  static const std::unordered_map<std::string, FilterFn> table = {
      {"abs", f_abs}, {"attr", f_attr}, {"batch", f_batch}, {"capitalize", f_capitalize},
      {"count", f_length}, {"d", f_default}, {"default", f_default}, {"dictsort", f_dictsort},
      {"e", f_escape}, {"escape", f_escape}, {"first", f_first}, {"float", f_float}, {"forceescape", f_forceescape}, {"format", f_format},
      {"indent", f_indent}, {"int", f_int}, {"items", f_items}, {"join", f_join},
      {"last", f_last}, {"length", f_length}, {"list", f_list}, {"lower", f_lower},
      {"map", f_map}, {"max", f_max}, {"min", f_min}, {"pprint", f_pprint},
      {"reject", f_reject}, {"rejectattr", f_rejectattr}, {"replace", f_replace},
      {"reverse", f_reverse}, {"round", f_round}, {"safe", f_safe}, {"select", f_select},
      {"selectattr", f_selectattr}, {"sort", f_sort}, {"string", f_string}, {"sum", f_sum},
      {"title", f_title}, {"tojson", f_tojson}, {"trim", f_trim}, {"unique", f_unique},
      {"upper", f_upper}, {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

bool has_filter(const std::string& name) { return filter_table().count(name) != 0; }

Value apply_filter(Evaluator& ev, const std::string& name, const Value& input, CallArgs& args) {
  auto it = filter_table().find(name);
  if (it == filter_table().end()) fail("no filter named '" + name + "'");
  ev.step();
  return it->second(ev, input, args);
}

}  // namespace dari::jinja
