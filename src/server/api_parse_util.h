// Shared checks for the request parsers (api_parse*.cpp): each returns the 400 to send, naming
// the field ("param"), or nullopt and writes *out. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "dari/server/api.h"

namespace dari::server::parse {

using json = nlohmann::ordered_json;

// Deepest nesting of [ and { outside strings (the JSON parser only sees bodies within the limit).
uint32_t json_depth(std::string_view s);
bool json_depth_exceeds(std::string_view body, uint32_t max_depth);
const char* type_name(const json& v);
ApiError wrong_type(const std::string& param, const char* expected, const json& v);
ApiError unsupported_value(const std::string& param, const std::string& message);
// A number in [lo, hi] (lo excluded when lo_open).
std::optional<ApiError> get_number(const json& v, const std::string& param, double lo, double hi,
                                   bool lo_open, float* out);
std::optional<ApiError> get_int(const json& v, const std::string& param, int64_t lo, int64_t hi,
                                int64_t* out);
std::optional<ApiError> get_bool(const json& v, const std::string& param, bool* out);
std::optional<ApiError> get_string(const json& v, const std::string& param, size_t max_bytes,
                                   std::string* out);
// `v` serialised is at most max_bytes (counted without building the whole string).
bool json_size_at_most(const json& v, uint64_t max_bytes);

}  // namespace dari::server::parse
