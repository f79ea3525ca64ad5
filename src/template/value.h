// Value: the dynamic value model of the Jinja interpreter (Python-like semantics).
//
// A Value is Undefined, None, a bool, a 64-bit int, a double, a UTF-8 string, a list, a dict
// (string keys, insertion order kept), or a callable. A string may be marked as markup (Python's
// markupsafe.Markup, made by the `safe` and `escape` filters): it prints the same, but combining
// it with a plain string HTML-escapes the plain one (Markup + str, str + Markup, Markup % args,
// Markup.join / format / replace ...), as Python Jinja does even without autoescaping. Lists and dicts are shared by reference
// (like Python objects): copying a Value copies the pointer, not the container. Namespace and
// loop objects are dicts with a different ObjectKind. Mutation paths (list.append, namespace
// attribute assignment) refuse to create reference cycles, so shared_ptr ownership never leaks.
//
// Errors inside the interpreter are thrown as TemplateError and converted to Result at the
// public API boundary (render/parse); nothing escapes the library as an exception.
//
// Thread safety: a Value tree is owned by one render call and used by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dari::jinja {

using Json = nlohmann::ordered_json;

// Thrown inside the interpreter; line/col 0 means "not yet known" (filled by the caller).
struct TemplateError {
  std::string message;
  int line = 0;
  int col = 0;
};

[[noreturn]] void fail(std::string message);

class Value;
class Evaluator;

// Arrays and objects release their children iteratively (see release_children), so dropping a
// deeply nested value built by a template cannot overflow the stack.
struct Array {
  Array() = default;
  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;
  ~Array();
  std::vector<Value> items;
  // True for the lazy results of map/select/reject: Python Jinja returns generators there,
  // which cannot be indexed, measured or serialised by tojson (the goldens depend on it).
  bool generator = false;
  // True for tuples: printed as (a, b) / (a,) like Python; otherwise they behave as lists.
  bool tuple = false;
};

enum class ObjectKind : uint8_t { kDict, kNamespace, kLoop };

struct Object {
  Object() = default;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;
  ~Object();
  std::vector<std::pair<std::string, Value>> items;
  std::unordered_map<std::string, size_t> index;  // key -> position in items
  ObjectKind kind = ObjectKind::kDict;

  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v);
  bool erase(const std::string& key);
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

// A native function, a bound method or a macro. `fn` receives the evaluator for limits,
// output and nested calls.
struct Function {
  std::string name;
  std::function<Value(Evaluator&, CallArgs&)> fn;
};

class Value {
 public:
  enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kArray, kObject, kFunction };

  Value() = default;  // Undefined
  static Value undefined(std::string hint = {});
  static Value none();
  Value(bool b);                // NOLINT: implicit by design
  Value(int64_t i);             // NOLINT
  Value(int i) : Value(static_cast<int64_t>(i)) {}  // NOLINT
  Value(double d);              // NOLINT
  Value(std::string s);         // NOLINT
  Value(const char* s) : Value(std::string(s)) {}  // NOLINT
  Value(std::shared_ptr<Array> a);   // NOLINT
  Value(std::shared_ptr<Object> o);  // NOLINT
  Value(std::shared_ptr<Function> f);  // NOLINT

  static Value array(std::vector<Value> items = {}, bool generator = false);
  static Value tuple(std::vector<Value> items);
  static Value object(ObjectKind kind = ObjectKind::kDict);
  static Value function(std::string name, std::function<Value(Evaluator&, CallArgs&)> fn);
  // A markupsafe.Markup string (see the header comment).
  static Value markup(std::string s);
  // Converts JSON (ordered) into a Value tree; depth-limited (throws TemplateError when deeper).
  static Value from_json(const Json& j, int depth = 0);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_markup() const { return kind_ == Kind::kString && markup_; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_dict() const { return kind_ == Kind::kObject && obj_->kind == ObjectKind::kDict; }
  bool is_function() const { return kind_ == Kind::kFunction; }
  bool is_generator() const { return kind_ == Kind::kArray && arr_->generator; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double as_double() const;  // int, bool or float
  const std::string& str_ref() const { return s_; }  // string value, or the undefined hint
  Array& arr() const { return *arr_; }
  Object& obj() const { return *obj_; }
  Function& fn() const { return *fn_; }
  const std::shared_ptr<Array>& arr_ptr() const { return arr_; }
  const std::shared_ptr<Object>& obj_ptr() const { return obj_; }

  bool truthy() const;
  // Python str(): what {{ value }} prints.
  std::string to_str() const;
  // Python repr(): used inside list/dict printing.
  std::string repr() const;
  // Python json.dumps(value, ensure_ascii, indent, separators, sort_keys); throws for
  // values JSON cannot hold (Undefined, functions, generators, namespaces).
  struct JsonOptions {
    int indent = -1;  // -1: no newlines
    std::string item_sep = ", ";
    std::string key_sep = ": ";
    bool ensure_ascii = false;
    bool sort_keys = false;
  };
  std::string to_json(const JsonOptions& opt) const;
  Json to_json_value(int depth = 0) const;
  const char* type_name() const;  // Python type names for messages: 'str', 'dict', ...

  // Python ==.
  bool equals(const Value& other, int depth = 0) const;
  // Python <, ==, > for ordering (numbers, strings, lists); throws on incompatible types.
  int compare(const Value& other, int depth = 0) const;
  // Moves out the container pointer (used by the iterative destructor).
  std::shared_ptr<Array> take_array() { return std::move(arr_); }
  std::shared_ptr<Object> take_object() { return std::move(obj_); }
  // True if `target` is reachable from this value (guards mutation against cycles).
  bool reaches(const void* target, int depth = 0) const;

 private:
  void repr_into(std::string& out, int depth) const;
  void json_into(std::string& out, const JsonOptions& opt, int level) const;

  Kind kind_ = Kind::kUndefined;
  bool b_ = false;
  bool markup_ = false;  // strings only
  int64_t i_ = 0;
  double f_ = 0.0;
  std::string s_;
  std::shared_ptr<Array> arr_;
  std::shared_ptr<Object> obj_;
  std::shared_ptr<Function> fn_;
};

// Python float repr (shortest round-trip, "1.0", "1e-05", "inf").
std::string format_python_float(double d);
// Python repr of a str ('...' or "..." quoting, \n \t \\ \xNN escapes).
std::string python_string_repr(std::string_view s);
// markupsafe.escape: & < > ' " become &amp; &lt; &gt; &#39; &#34;.
std::string html_escape(std::string_view s);
// markupsafe.escape(value): markup is returned as is; anything else is str(value), escaped, as
// markup.
Value markup_escape(const Value& v);
// `s` as markup when `like` is markup, else as a plain string (for str methods that Markup wraps).
Value same_string_kind(const Value& like, std::string s);
// JSON string literal as Python json.dumps writes it.
void json_escape_into(std::string& out, std::string_view s, bool ensure_ascii);

// UTF-8 helpers: code points of a string (invalid bytes map to U+FFFD) and back.
std::vector<uint32_t> utf8_decode(std::string_view s);
void utf8_append(std::string& out, uint32_t cp);
size_t utf8_length(std::string_view s);

inline constexpr int kMaxValueDepth = 256;  // nesting of lists/dicts in conversions and printing

}  // namespace dari::jinja
