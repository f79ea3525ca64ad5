// Python-semantics operators, containment, slicing and argument helpers.
#include <cmath>

#include "dari/core/strings.h"
#include "template/evaluator.h"

namespace dari::jinja {
namespace {

[[noreturn]] void bad_operands(const std::string& op, const Value& a, const Value& b) {
  fail("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
}

Value int_op(const std::string& op, int64_t a, int64_t b) {
  int64_t r = 0;
  bool overflow = false;
  if (op == "+") overflow = __builtin_add_overflow(a, b, &r);
  else if (op == "-") overflow = __builtin_sub_overflow(a, b, &r);
  else if (op == "*") overflow = __builtin_mul_overflow(a, b, &r);
  else if (op == "/") {
    if (b == 0) fail("division by zero");
    return Value(static_cast<double>(a) / static_cast<double>(b));
  } else if (op == "//" || op == "%") {
    if (b == 0) fail(op == "%" ? "integer modulo by zero" : "integer division or modulo by zero");
    if (a == INT64_MIN && b == -1) {
      if (op == "%") return Value(int64_t{0});
      overflow = true;
    } else {
      int64_t q = a / b, m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) {
        --q;
        m += b;
      }
      r = op == "//" ? q : m;
    }
  } else if (op == "**") {
    if (b < 0) return Value(std::pow(static_cast<double>(a), static_cast<double>(b)));
    r = 1;
    int64_t base = a;
    for (int64_t e = b; e > 0 && !overflow; e >>= 1) {
      if (e & 1) overflow = __builtin_mul_overflow(r, base, &r);
      if (e > 1 && !overflow) overflow = __builtin_mul_overflow(base, base, &base);
    }
  }
  if (overflow) fail("integer overflow in '" + op + "' (values beyond 64 bits are not supported)");
  return Value(r);
}

Value float_op(const std::string& op, double a, double b) {
  if (op == "+") return Value(a + b);
  if (op == "-") return Value(a - b);
  if (op == "*") return Value(a * b);
  if (op == "**") return Value(std::pow(a, b));
  if (b == 0.0) fail("float division by zero");
  if (op == "/") return Value(a / b);
  double q = std::floor(a / b);
  if (op == "//") return Value(q);
  double m = std::fmod(a, b);
  if (m != 0.0 && ((m < 0) != (b < 0))) m += b;
  return Value(m);
}

Value repeat(Evaluator& ev, const Value& seq, int64_t n) {
  if (n <= 0) return seq.is_string() ? same_string_kind(seq, std::string()) : Value::array();
  if (seq.is_string()) {
    size_t total = 0;
    if (__builtin_mul_overflow(seq.str_ref().size(), static_cast<uint64_t>(n), &total)) total = SIZE_MAX;
    ev.check_string(total);
    std::string out;
    out.reserve(total);
    for (int64_t i = 0; i < n; ++i) out += seq.str_ref();
    return same_string_kind(seq, std::move(out));
  }
  size_t total = 0;
  if (__builtin_mul_overflow(seq.arr().items.size(), static_cast<uint64_t>(n), &total)) total = SIZE_MAX;
  ev.check_items(total);
  Value out = Value::array();
  for (int64_t i = 0; i < n; ++i)
    out.arr().items.insert(out.arr().items.end(), seq.arr().items.begin(), seq.arr().items.end());
  return out;
}

}  // namespace

Value binary_op(Evaluator& ev, const std::string& op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string s = a.to_str();
    std::string t = b.to_str();
    ev.check_string(s.size() + t.size());
    return Value(s + t);
  }
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return float_op(op, a.as_double(), b.as_double());
    return int_op(op, a.as_int(), b.as_int());
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      if (a.is_markup() || b.is_markup()) {
        // Markup.__add__ / __radd__: the plain operand is escaped, the result is markup.
        std::string s = markup_escape(a).str_ref();
        const Value rb = markup_escape(b);
        ev.check_string(s.size() + rb.str_ref().size());
        return Value::markup(s + rb.str_ref());
      }
      ev.check_string(a.str_ref().size() + b.str_ref().size());
      return Value(a.str_ref() + b.str_ref());
    }
    if (a.is_array() && b.is_array() && !a.is_generator() && !b.is_generator()) {
      ev.check_items(a.arr().items.size() + b.arr().items.size());
      std::vector<Value> items = a.arr().items;
      items.insert(items.end(), b.arr().items.begin(), b.arr().items.end());
      return Value::array(std::move(items));
    }
  }
  if (op == "*") {
    bool seq_a = a.is_string() || (a.is_array() && !a.is_generator());
    bool seq_b = b.is_string() || (b.is_array() && !b.is_generator());
    if (seq_a && (b.is_int() || b.is_bool())) return repeat(ev, a, b.as_int());
    if (seq_b && (a.is_int() || a.is_bool())) return repeat(ev, b, a.as_int());
  }
  if (op == "%" && a.is_string()) {
    std::vector<Value> args;
    if (b.is_array() && b.arr().tuple) args = b.arr().items;
    else args.push_back(b);
    return same_string_kind(a, percent_format(ev, a.str_ref(), args, a.is_markup()));
  }
  bad_operands(op, a, b);
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined: return false;
    case Value::Kind::kString:
      if (!item.is_string())
        fail(std::string("'in <string>' requires string as left operand, not ") + item.type_name());
      return container.str_ref().find(item.str_ref()) != std::string::npos;
    case Value::Kind::kArray:
      for (const auto& v : container.arr().items)
        if (v.equals(item)) return true;
      return false;
    case Value::Kind::kObject:
      if (container.obj().kind != ObjectKind::kDict && container.obj().kind != ObjectKind::kNamespace)
        return false;
      return item.is_string() && container.obj().find(item.str_ref()) != nullptr;
    default:
      fail(std::string("argument of type '") + container.type_name() + "' is not iterable");
  }
}

// Python slice.indices() followed by element selection; strings slice by code point.
Value slice_value(Evaluator& ev, const Value& v, const Value& start, const Value& stop, const Value& step) {
  if (v.is_undefined()) undefined_error(v);
  bool is_str = v.is_string();
  if (!is_str && !(v.is_array() && !v.is_generator()))
    fail(std::string("'") + v.type_name() + "' object is not subscriptable");
  auto as_index = [](const Value& x, const char* what) -> int64_t {
    if (!x.is_int() && !x.is_bool())
      fail(std::string("slice ") + what + " must be an integer or None, not " + x.type_name());
    return x.as_int();
  };
  std::vector<uint32_t> cps;
  if (is_str) cps = utf8_decode(v.str_ref());
  const int64_t len = is_str ? static_cast<int64_t>(cps.size()) : static_cast<int64_t>(v.arr().items.size());
  int64_t st = step.is_none() ? 1 : as_index(step, "step");
  if (st == 0) fail("slice step cannot be zero");
  auto clamp = [&](const Value& x, int64_t def, const char* what) -> int64_t {
    if (x.is_none()) return def;
    int64_t i = as_index(x, what);
    if (i < 0) {
      i = (i < -len) ? (st < 0 ? -1 : 0) : i + len;
    } else if (i >= len) {
      i = st < 0 ? len - 1 : len;
    }
    return i;
  };
  int64_t b = clamp(start, st < 0 ? len - 1 : 0, "start");
  int64_t e = clamp(stop, st < 0 ? -1 : len, "stop");
  std::vector<size_t> picks;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
    picks.push_back(static_cast<size_t>(i));
    if (st > 0 ? i > INT64_MAX - st : i < INT64_MIN - st) break;
  }
  if (is_str) {
    std::string out;
    for (size_t i : picks) utf8_append(out, cps[i]);
    return same_string_kind(v, std::move(out));  // Markup.__getitem__ keeps markup
  }
  ev.check_items(picks.size());
  Value out = Value::array();
  for (size_t i : picks) out.arr().items.push_back(v.arr().items[i]);
  return out;
}

std::string py_strip(std::string_view s, const Value& chars, bool left, bool right) {
  auto strip_cp = [&](uint32_t cp) -> bool {
    if (chars.is_none() || chars.is_undefined())
      return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
             (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
             (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
             cp == 0x205f || cp == 0x3000;
    if (!chars.is_string()) fail("strip arg must be None or str");
    for (uint32_t c : utf8_decode(chars.str_ref()))
      if (c == cp) return true;
    return false;
  };
  std::vector<uint32_t> cps = utf8_decode(s);
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_cp(cps[b])) ++b;
  if (right)
    while (e > b && strip_cp(cps[e - 1])) --e;
  std::string out;
  for (size_t i = b; i < e; ++i) utf8_append(out, cps[i]);
  return out;
}

// Python printf-style formatting: %[flags][width][.prec](s|r|d|i|f|F|e|E|g|G|x|X|o|c|%).
// A single dict argument supplies %(name)s fields.
std::string percent_format(Evaluator& ev, const std::string& fmt, const std::vector<Value>& args,
                           bool escape_args) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) fail("incomplete format");
    const Value* arg = nullptr;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos || args.size() != 1 || !args[0].is_dict()) fail("format requires a mapping");
      arg = args[0].obj().find(fmt.substr(i + 1, close - i - 1));
      if (!arg) fail("format key '" + fmt.substr(i + 1, close - i - 1) + "' not found");
      i = close + 1;
    }
    std::string spec = "%";
    while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos) spec.push_back(fmt[i++]);
    while (i < fmt.size() && ((fmt[i] >= '0' && fmt[i] <= '9') || fmt[i] == '.') && spec.size() < 12)
      spec.push_back(fmt[i++]);
    if (i >= fmt.size()) fail("incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!arg) {
      if (next >= args.size()) fail("not enough arguments for format string");
      arg = &args[next++];
    }
    char buf[512];
    if (conv == 's' || conv == 'r') {
      std::string s = conv == 's' ? arg->to_str() : arg->repr();
      // Markup % args: %s escapes str(arg) unless it is markup, %r always escapes repr(arg).
      if (escape_args && (conv == 'r' || !arg->is_markup())) s = html_escape(s);
      out += str_format((spec + "s").c_str(), s.c_str());
    } else if (conv == 'd' || conv == 'i' || conv == 'x' || conv == 'X' || conv == 'o' || conv == 'c') {
      if (!arg->is_number()) fail(std::string("%") + conv + " format: a number is required, not " + arg->type_name());
      long long v = arg->is_float() ? static_cast<long long>(arg->as_double()) : static_cast<long long>(arg->as_int());
      std::snprintf(buf, sizeof(buf), (spec + "ll" + (conv == 'i' ? 'd' : conv == 'c' ? 'd' : conv)).c_str(), v);
      out += buf;
    } else if (std::string("fFeEgG").find(conv) != std::string::npos) {
      if (!arg->is_number()) fail(std::string("%") + conv + " format: a real number is required, not " + arg->type_name());
      std::snprintf(buf, sizeof(buf), (spec + conv).c_str(), arg->as_double());
      out += buf;
    } else {
      fail(std::string("unsupported format character '") + conv + "'");
    }
    ev.check_string(out.size());
  }
  if (next < args.size() && !(args.size() == 1 && args[0].is_dict()))
    fail("not all arguments converted during string formatting");
  return out;
}

const Value* find_arg(const CallArgs& args, size_t pos, const char* name) {
  for (const auto& [k, v] : args.kwargs)
    if (k == name) return &v;
  if (pos < args.args.size()) return &args.args[pos];
  return nullptr;
}

Value arg_or(const CallArgs& args, size_t pos, const char* name, Value def) {
  const Value* v = find_arg(args, pos, name);
  return v ? *v : std::move(def);
}

}  // namespace dari::jinja
