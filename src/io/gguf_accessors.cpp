// Typed metadata accessors of GgufFile. Errors name the file, the key and the type found.
#include <cmath>
#include <limits>

#include "dari/core/strings.h"
#include "dari/io/gguf.h"

namespace dari {
namespace {

Error missing(const GgufFile& f, std::string_view key) {
  return make_error(str_format("%s: missing key '%s'", f.path().c_str(),
                               printable(key, 256).c_str()));
}

std::string found_type(const GgufValue& v) {
  std::string s(gguf_value_type_name(v.type()));
  if (const GgufArray* a = v.as_array()) {
    s += " of " + std::string(gguf_value_type_name(a->elem_type));
  }
  return s;
}

Error wrong(const GgufFile& f, std::string_view key, const char* expected, const GgufValue& v) {
  return make_error(str_format("%s: key '%s': expected %s, found %s", f.path().c_str(),
                               printable(key, 256).c_str(), expected, found_type(v).c_str()));
}

Error out_of_range(const GgufFile& f, std::string_view key, const char* expected) {
  return make_error(str_format("%s: key '%s': value does not fit in %s", f.path().c_str(),
                               printable(key, 256).c_str(), expected));
}

Result<const GgufArray*> get_array(const GgufFile& f, std::string_view key, const char* expected) {
  const GgufValue* v = f.find(key);
  if (v == nullptr) return missing(f, key);
  const GgufArray* a = v->as_array();
  if (a == nullptr) return wrong(f, key, expected, *v);
  return a;
}

}  // namespace

Result<uint64_t> GgufFile::get_u64(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(*this, key);
  if (!v->is_integer()) return wrong(*this, key, "an unsigned integer", *v);
  uint64_t out = 0;
  if (!v->to_u64(&out)) return out_of_range(*this, key, "uint64");
  return out;
}

Result<uint32_t> GgufFile::get_u32(std::string_view key) const {
  DARI_ASSIGN_OR_RETURN(uint64_t v, get_u64(key));
  if (v > std::numeric_limits<uint32_t>::max()) return out_of_range(*this, key, "uint32");
  return static_cast<uint32_t>(v);
}

Result<int64_t> GgufFile::get_i64(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(*this, key);
  if (!v->is_integer()) return wrong(*this, key, "an integer", *v);
  int64_t out = 0;
  if (!v->to_i64(&out)) return out_of_range(*this, key, "int64");
  return out;
}

Result<double> GgufFile::get_f64(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(*this, key);
  double out = 0;
  if (!v->to_f64(&out)) return wrong(*this, key, "a number", *v);
  return out;
}

Result<float> GgufFile::get_f32(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(*this, key);
  if (const float* f = std::get_if<float>(&v->storage())) return *f;
  double out = 0;
  if (!v->to_f64(&out)) return wrong(*this, key, "a number", *v);
  return static_cast<float>(out);
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(*this, key);
  if (const bool* b = v->as_bool()) return *b;
  return wrong(*this, key, "bool", *v);
}

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing(*this, key);
  if (const std::string* s = v->as_string()) return *s;
  return wrong(*this, key, "string", *v);
}

Result<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  DARI_ASSIGN_OR_RETURN(const GgufArray* a, get_array(*this, key, "array of string"));
  if (a->elem_type != GgufValueType::STRING) return wrong(*this, key, "array of string", *find(key));
  std::vector<std::string> out;
  out.reserve(a->items.size());
  for (const GgufValue& item : a->items) out.push_back(*item.as_string());
  return out;
}

Result<std::vector<float>> GgufFile::get_f32_array(std::string_view key) const {
  DARI_ASSIGN_OR_RETURN(const GgufArray* a, get_array(*this, key, "array of numbers"));
  std::vector<float> out;
  out.reserve(a->items.size());
  for (const GgufValue& item : a->items) {
    if (const float* f = std::get_if<float>(&item.storage())) {
      out.push_back(*f);
      continue;
    }
    double d = 0;
    if (!item.to_f64(&d)) return wrong(*this, key, "array of numbers", *find(key));
    out.push_back(static_cast<float>(d));
  }
  return out;
}

Result<std::vector<int32_t>> GgufFile::get_i32_array(std::string_view key) const {
  DARI_ASSIGN_OR_RETURN(const GgufArray* a, get_array(*this, key, "array of integers"));
  std::vector<int32_t> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    int64_t x = 0;
    if (!a->items[i].is_integer()) return wrong(*this, key, "array of integers", *find(key));
    if (!a->items[i].to_i64(&x) || x < std::numeric_limits<int32_t>::min() ||
        x > std::numeric_limits<int32_t>::max()) {
      return make_error(str_format("%s: key '%s': element %zu does not fit in int32", path_.c_str(),
                                   printable(key, 256).c_str(), i));
    }
    out.push_back(static_cast<int32_t>(x));
  }
  return out;
}

Result<std::vector<uint64_t>> GgufFile::get_u64_array(std::string_view key) const {
  DARI_ASSIGN_OR_RETURN(const GgufArray* a, get_array(*this, key, "array of integers"));
  std::vector<uint64_t> out;
  out.reserve(a->items.size());
  for (size_t i = 0; i < a->items.size(); ++i) {
    uint64_t x = 0;
    if (!a->items[i].is_integer()) return wrong(*this, key, "array of integers", *find(key));
    if (!a->items[i].to_u64(&x)) {
      return make_error(str_format("%s: key '%s': element %zu does not fit in uint64", path_.c_str(),
                                   printable(key, 256).c_str(), i));
    }
    out.push_back(x);
  }
  return out;
}

Result<uint32_t> GgufFile::get_u32_or(std::string_view key, uint32_t def) const {
  return has(key) ? get_u32(key) : Result<uint32_t>(def);
}
Result<uint64_t> GgufFile::get_u64_or(std::string_view key, uint64_t def) const {
  return has(key) ? get_u64(key) : Result<uint64_t>(def);
}
Result<float> GgufFile::get_f32_or(std::string_view key, float def) const {
  return has(key) ? get_f32(key) : Result<float>(def);
}
Result<bool> GgufFile::get_bool_or(std::string_view key, bool def) const {
  return has(key) ? get_bool(key) : Result<bool>(def);
}
Result<std::string> GgufFile::get_string_or(std::string_view key, std::string def) const {
  return has(key) ? get_string(key) : Result<std::string>(std::move(def));
}

}  // namespace dari
