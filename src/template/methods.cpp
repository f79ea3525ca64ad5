// Python methods on str, dict and list values (the subset chat templates call).
#include <algorithm>

#include "dari/core/strings.h"
#include "template/evaluator.h"
#include "template/text.h"

namespace dari::jinja {
namespace {

using Method = Value (*)(Evaluator&, const Value& self, CallArgs&);

const std::string& str_arg(const CallArgs& a, size_t pos, const char* name, const char* method) {
  const Value* v = find_arg(a, pos, name);
  if (!v || !v->is_string()) fail(std::string(method) + "() argument must be a string");
  return v->str_ref();
}

// startswith/endswith accept a string or a tuple/list of strings.
bool affix_match(const Value& self, const Value& arg, bool prefix) {
  auto one = [&](const Value& p) {
    if (!p.is_string()) fail("startswith/endswith first arg must be str or a tuple of str");
    const std::string& s = self.str_ref();
    const std::string& x = p.str_ref();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (arg.is_array()) return std::any_of(arg.arr().items.begin(), arg.arr().items.end(), one);
  return one(arg);
}

// Methods on markup: markupsafe wraps strip / lstrip / rstrip / upper / lower / title /
// capitalize / replace so that string arguments are escaped and the result is markup; split /
// rsplit / splitlines give markup parts; join and format escape what they insert.
Value escaped_arg(const Value& self, Value arg) {
  return self.is_markup() && arg.is_string() ? markup_escape(arg) : arg;
}
Value strip_impl(const Value& s, CallArgs& a, bool left, bool right) {
  Value chars = escaped_arg(s, arg_or(a, 0, "chars", Value::none()));
  return same_string_kind(s, py_strip(s.str_ref(), chars, left, right));
}
Value s_strip(Evaluator&, const Value& s, CallArgs& a) { return strip_impl(s, a, true, true); }
Value s_lstrip(Evaluator&, const Value& s, CallArgs& a) { return strip_impl(s, a, true, false); }
Value s_rstrip(Evaluator&, const Value& s, CallArgs& a) { return strip_impl(s, a, false, true); }
Value s_upper(Evaluator&, const Value& s, CallArgs&) { return same_string_kind(s, py_upper(s.str_ref())); }
Value s_lower(Evaluator&, const Value& s, CallArgs&) { return same_string_kind(s, py_lower(s.str_ref())); }
Value s_title(Evaluator&, const Value& s, CallArgs&) { return same_string_kind(s, py_title(s.str_ref())); }
Value s_capitalize(Evaluator&, const Value& s, CallArgs&) { return same_string_kind(s, py_capitalize(s.str_ref())); }

Value s_split_impl(Evaluator& ev, const Value& s, CallArgs& a, bool right) {
  Value sep = arg_or(a, 0, "sep", Value::none());
  const Value* ms = find_arg(a, 1, "maxsplit");
  int64_t maxsplit = ms ? ms->as_int() : -1;
  if (!sep.is_none() && !sep.is_string()) fail("split(): separator must be a string or None");
  std::vector<std::string> parts;
  if (right && maxsplit >= 0 && !sep.is_none()) {
    // rsplit with a limit: split from the right.
    std::string_view str = s.str_ref();
    const std::string& sp = sep.str_ref();
    if (sp.empty()) fail("empty separator");
    size_t end = str.size();
    while (static_cast<int64_t>(parts.size()) < maxsplit) {
      size_t f = end >= sp.size() ? str.rfind(sp, end - sp.size()) : std::string_view::npos;
      if (f == std::string_view::npos) break;
      parts.emplace_back(str.substr(f + sp.size(), end - f - sp.size()));
      end = f;
    }
    parts.emplace_back(str.substr(0, end));
    std::reverse(parts.begin(), parts.end());
  } else {
    parts = py_split(s.str_ref(), sep.is_none() ? "" : sep.str_ref(), sep.is_none(), maxsplit);
  }
  ev.check_items(parts.size());
  Value out = Value::array();
  for (auto& p : parts) out.arr().items.push_back(same_string_kind(s, std::move(p)));
  return out;
}
Value s_split(Evaluator& ev, const Value& s, CallArgs& a) { return s_split_impl(ev, s, a, false); }
Value s_rsplit(Evaluator& ev, const Value& s, CallArgs& a) { return s_split_impl(ev, s, a, true); }

Value s_splitlines(Evaluator&, const Value& s, CallArgs&) {
  Value out = Value::array();
  std::string cur;
  const std::string& str = s.str_ref();
  for (size_t i = 0; i < str.size(); ++i) {
    if (str[i] == '\n' || str[i] == '\r') {
      out.arr().items.push_back(same_string_kind(s, cur));
      cur.clear();
      if (str[i] == '\r' && i + 1 < str.size() && str[i + 1] == '\n') ++i;
    } else {
      cur.push_back(str[i]);
    }
  }
  if (!cur.empty()) out.arr().items.push_back(same_string_kind(s, cur));
  return out;
}

Value s_startswith(Evaluator&, const Value& s, CallArgs& a) {
  const Value* p = find_arg(a, 0, "prefix");
  if (!p) fail("startswith() needs an argument");
  return Value(affix_match(s, *p, true));
}
Value s_endswith(Evaluator&, const Value& s, CallArgs& a) {
  const Value* p = find_arg(a, 0, "suffix");
  if (!p) fail("endswith() needs an argument");
  return Value(affix_match(s, *p, false));
}

Value s_replace(Evaluator& ev, const Value& s, CallArgs& a) {
  const std::string from = escaped_arg(s, Value(str_arg(a, 0, "old", "replace"))).str_ref();
  const std::string to = escaped_arg(s, Value(str_arg(a, 1, "new", "replace"))).str_ref();
  const Value* c = find_arg(a, 2, "count");
  return same_string_kind(
      s, py_replace(s.str_ref(), from, to, c ? c->as_int() : -1, ev.limits().max_output_bytes));
}

// Byte offset -> code point index (find/rfind return code point positions like Python).
int64_t cp_index(const std::string& s, size_t byte_pos) {
  return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, byte_pos)));
}
Value s_find(Evaluator&, const Value& s, CallArgs& a) {
  size_t f = s.str_ref().find(str_arg(a, 0, "sub", "find"));
  return Value(f == std::string::npos ? int64_t{-1} : cp_index(s.str_ref(), f));
}
Value s_rfind(Evaluator&, const Value& s, CallArgs& a) {
  size_t f = s.str_ref().rfind(str_arg(a, 0, "sub", "rfind"));
  return Value(f == std::string::npos ? int64_t{-1} : cp_index(s.str_ref(), f));
}
Value s_count(Evaluator&, const Value& s, CallArgs& a) {
  const std::string& sub = str_arg(a, 0, "sub", "count");
  if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s.str_ref()) + 1));
  int64_t n = 0;
  for (size_t p = s.str_ref().find(sub); p != std::string::npos; p = s.str_ref().find(sub, p + sub.size())) ++n;
  return Value(n);
}
Value s_join(Evaluator& ev, const Value& s, CallArgs& a) {
  if (a.args.empty()) fail("join() needs an iterable");
  std::string out;
  bool first = true;
  for (const Value& item : ev.iterate(a.args[0])) {
    // Markup.join escapes every item first (so non-strings become strings too).
    const Value v = s.is_markup() ? markup_escape(item) : item;
    if (!v.is_string()) fail(std::string("sequence item: expected str instance, ") + v.type_name() + " found");
    if (!first) out += s.str_ref();
    first = false;
    out += v.str_ref();
    ev.check_string(out.size());
  }
  return same_string_kind(s, std::move(out));
}
Value s_removeprefix(Evaluator&, const Value& s, CallArgs& a) {
  const std::string& p = str_arg(a, 0, "prefix", "removeprefix");
  const std::string& str = s.str_ref();
  return Value(str.compare(0, p.size(), p) == 0 && p.size() <= str.size() ? str.substr(p.size()) : str);
}
Value s_removesuffix(Evaluator&, const Value& s, CallArgs& a) {
  const std::string& p = str_arg(a, 0, "suffix", "removesuffix");
  const std::string& str = s.str_ref();
  bool m = p.size() <= str.size() && str.compare(str.size() - p.size(), p.size(), p) == 0;
  return Value(m && !p.empty() ? str.substr(0, str.size() - p.size()) : str);
}
template <bool (*Pred)(uint32_t)>
Value s_is(Evaluator&, const Value& s, CallArgs&) {
  std::vector<uint32_t> cps = utf8_decode(s.str_ref());
  return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), Pred));
}
bool cp_digit(uint32_t c) { return c >= '0' && c <= '9'; }
bool cp_alpha(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }
bool cp_alnum(uint32_t c) { return cp_digit(c) || cp_alpha(c); }

Value s_format(Evaluator& ev, const Value& s, CallArgs& a) {
  // str.format with "{}", "{0}", "{name}" fields and "{{"/"}}" escapes (no format specs).
  const std::string& f = s.str_ref();
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if ((c == '{' || c == '}') && i + 1 < f.size() && f[i + 1] == c) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    size_t close = f.find('}', i);
    if (close == std::string::npos) fail("format(): single '{' encountered in format string");
    std::string field = f.substr(i + 1, close - i - 1);
    const Value* v = nullptr;
    if (field.empty()) {
      v = auto_index < a.args.size() ? &a.args[auto_index] : nullptr;
      ++auto_index;
    } else if (std::all_of(field.begin(), field.end(), cp_digit) && field.size() < 9) {
      size_t idx = static_cast<size_t>(std::stoul(field));
      v = idx < a.args.size() ? &a.args[idx] : nullptr;
    } else {
      v = find_arg(a, SIZE_MAX, field.c_str());
    }
    if (!v) fail("format(): missing argument for field '{" + field + "}'");
    out += s.is_markup() ? markup_escape(*v).str_ref() : v->to_str();
    ev.check_string(out.size());
    i = close;
  }
  return same_string_kind(s, std::move(out));
}

// dict methods
Value d_items(Evaluator&, const Value& d, CallArgs&) {
  Value out = Value::array();
  for (const auto& [k, v] : d.obj().items) out.arr().items.push_back(Value::tuple({Value(k), v}));
  return out;
}
Value d_keys(Evaluator&, const Value& d, CallArgs&) {
  Value out = Value::array();
  for (const auto& kv : d.obj().items) out.arr().items.emplace_back(kv.first);
  return out;
}
Value d_values(Evaluator&, const Value& d, CallArgs&) {
  Value out = Value::array();
  for (const auto& kv : d.obj().items) out.arr().items.push_back(kv.second);
  return out;
}
Value d_get(Evaluator&, const Value& d, CallArgs& a) {
  const Value* k = find_arg(a, 0, "key");
  if (!k) fail("get() needs a key");
  Value def = arg_or(a, 1, "default", Value::none());
  if (!k->is_string()) return def;
  const Value* v = d.obj().find(k->str_ref());
  return v ? *v : def;
}

// list methods (mutating ones refuse reference cycles)
Value l_append(Evaluator& ev, const Value& l, CallArgs& a) {
  if (a.args.size() != 1) fail("append() takes exactly one argument");
  if (a.args[0].reaches(l.arr_ptr().get())) fail("append() would create a reference cycle");
  ev.check_items(l.arr().items.size() + 1);
  l.arr().items.push_back(a.args[0]);
  return Value::none();
}
Value l_extend(Evaluator& ev, const Value& l, CallArgs& a) {
  if (a.args.size() != 1) fail("extend() takes exactly one argument");
  std::vector<Value> items = ev.iterate(a.args[0]);
  for (const Value& v : items)
    if (v.reaches(l.arr_ptr().get())) fail("extend() would create a reference cycle");
  ev.check_items(l.arr().items.size() + items.size());
  l.arr().items.insert(l.arr().items.end(), items.begin(), items.end());
  return Value::none();
}
Value l_pop(Evaluator&, const Value& l, CallArgs& a) {
  auto& items = l.arr().items;
  if (items.empty()) fail("pop from empty list");
  int64_t idx = a.args.empty() ? -1 : a.args[0].as_int();
  int64_t n = static_cast<int64_t>(items.size());
  if (idx < 0) idx += n;
  if (idx < 0 || idx >= n) fail("pop index out of range");
  Value v = items[static_cast<size_t>(idx)];
  items.erase(items.begin() + idx);
  return v;
}
Value l_index(Evaluator&, const Value& l, CallArgs& a) {
  if (a.args.empty()) fail("index() needs an argument");
  const auto& items = l.arr().items;
  for (size_t i = 0; i < items.size(); ++i)
    if (items[i].equals(a.args[0])) return Value(static_cast<int64_t>(i));
  fail(a.args[0].repr() + " is not in list");
}
Value l_count(Evaluator&, const Value& l, CallArgs& a) {
  if (a.args.empty()) fail("count() needs an argument");
  int64_t n = 0;
  for (const Value& v : l.arr().items) n += v.equals(a.args[0]) ? 1 : 0;
  return Value(n);
}

struct MethodTables {
  std::unordered_map<std::string, Method> str, dict, list;
};

const MethodTables& tables() {
  static const MethodTables t = {
      {{"strip", s_strip}, {"lstrip", s_lstrip}, {"rstrip", s_rstrip}, {"upper", s_upper},
       {"lower", s_lower}, {"title", s_title}, {"capitalize", s_capitalize}, {"split", s_split},
       {"rsplit", s_rsplit}, {"splitlines", s_splitlines}, {"startswith", s_startswith},
       {"endswith", s_endswith}, {"replace", s_replace}, {"find", s_find}, {"rfind", s_rfind},
       {"count", s_count}, {"join", s_join}, {"format", s_format}, {"removeprefix", s_removeprefix},
       {"removesuffix", s_removesuffix}, {"isdigit", s_is<cp_digit>}, {"isalpha", s_is<cp_alpha>},
       {"isalnum", s_is<cp_alnum>}, {"isspace", s_is<py_is_space>}},
      {{"items", d_items}, {"keys", d_keys}, {"values", d_values}, {"get", d_get}},
      {{"append", l_append}, {"extend", l_extend}, {"pop", l_pop}, {"index", l_index}, {"count", l_count}},
  };
  return t;
}

}  // namespace

Value get_method(const Value& obj, const std::string& name) {
  const std::unordered_map<std::string, Method>* table = nullptr;
  if (obj.is_string()) table = &tables().str;
  else if (obj.is_dict()) table = &tables().dict;
  else if (obj.is_array() && !obj.is_generator()) table = &tables().list;
  if (obj.is_array() && obj.arr().tuple && name != "index" && name != "count") return Value::undefined();
  if (!table) return Value::undefined();
  auto it = table->find(name);
  if (it == table->end()) return Value::undefined();
  Method m = it->second;
  Value self = obj;
  return Value::function(name, [m, self](Evaluator& ev, CallArgs& args) { return m(ev, self, args); });
}

}  // namespace dari::jinja
