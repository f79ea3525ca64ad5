// Shared checks for the request parsers (see api_parse_util.h).
#include "api_parse_util.h"

#include <cmath>

namespace dari::server::parse {

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

ApiError wrong_type(const std::string& param, const char* expected, const json& v) {
  return bad_request(param, "'" + param + "' must be " + expected + ", got " + type_name(v),
                     "invalid_type");
}

ApiError unsupported_value(const std::string& param, const std::string& message) {
  return bad_request(param, message, "unsupported_value");
}

// Deepest nesting of [ and { outside strings; the JSON parser runs only on bodies within the limit.
uint32_t json_depth(std::string_view s) {
  uint32_t depth = 0;
  uint32_t max_depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_str) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_str = false;
      }
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      ++depth;
      if (depth > max_depth) max_depth = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max_depth;
}

bool json_depth_exceeds(std::string_view body, uint32_t max_depth) {
  return json_depth(body) > max_depth;
}

namespace {
std::string fmt_num(double d) { return json(d).dump(); }
}  // namespace

std::optional<ApiError> get_number(const json& v, const std::string& param, double lo, double hi,
                                   bool lo_open, float* out) {
  if (!v.is_number()) return wrong_type(param, "a number", v);
  const double d = v.get<double>();
  if (!std::isfinite(d) || d > hi || d < lo || (lo_open && d <= lo)) {
    return bad_request(param,
                       "'" + param + "' must be in " + (lo_open ? "(" : "[") + fmt_num(lo) + ", " +
                           fmt_num(hi) + "], got " + fmt_num(d),
                       "invalid_value");
  }
  *out = static_cast<float>(d);
  return std::nullopt;
}

std::optional<ApiError> get_int(const json& v, const std::string& param, int64_t lo, int64_t hi,
                                int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) {
      return bad_request(param, "'" + param + "' must be at most " + std::to_string(hi),
                         "invalid_value");
    }
    *out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else {
    return wrong_type(param, "an integer", v);
  }
  if (*out < lo || *out > hi) {
    return bad_request(param,
                       "'" + param + "' must be in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "], got " + std::to_string(*out),
                       "invalid_value");
  }
  return std::nullopt;
}

std::optional<ApiError> get_bool(const json& v, const std::string& param, bool* out) {
  if (!v.is_boolean()) return wrong_type(param, "a boolean", v);
  *out = v.get<bool>();
  return std::nullopt;
}

std::optional<ApiError> get_string(const json& v, const std::string& param, size_t max_bytes,
                                   std::string* out) {
  if (!v.is_string()) return wrong_type(param, "a string", v);
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_bytes) {
    return bad_request(param,
                       "'" + param + "' is longer than " + std::to_string(max_bytes) + " bytes",
                       "invalid_value");
  }
  *out = s;
  return std::nullopt;
}

namespace {

// Adds an upper bound of v's serialised size to *total; stops early past `limit`. Iterative
// over an explicit stack (depth is already bounded by the body check, but no recursion anyway).
bool size_bound(const json& root, uint64_t limit) {
  uint64_t total = 0;
  std::vector<const json*> todo = {&root};
  while (!todo.empty()) {
    const json* v = todo.back();
    todo.pop_back();
    if (v->is_string()) {
      total += v->get_ref<const std::string&>().size() + 2;
    } else if (v->is_object()) {
      total += 2;
      for (const auto& [k, child] : v->items()) {
        total += k.size() + 4;
        todo.push_back(&child);
      }
    } else if (v->is_array()) {
      total += 2;
      for (const auto& child : *v) {
        total += 1;
        todo.push_back(&child);
      }
    } else {
      total += 24;
    }
    if (total > limit) return false;
  }
  return true;
}

}  // namespace

bool json_size_at_most(const json& v, uint64_t max_bytes) { return size_bound(v, max_bytes); }

}  // namespace dari::server::parse
