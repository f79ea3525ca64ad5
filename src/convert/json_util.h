// Private helpers of dari_convert: bounded JSON parsing and whole-file reads.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "dari/core/result.h"

namespace dari {

// Largest nesting depth accepted in any JSON document we read (config, tokenizer, headers).
inline constexpr int kMaxJsonDepth = 64;

// Parses `text` as JSON. Never throws: syntax errors, invalid UTF-8 and nesting deeper than
// kMaxJsonDepth become an Error prefixed with `what` (e.g. "dir/config.json").
Result<nlohmann::json> parse_json_limited(std::string_view text, const std::string& what);

// Reads a whole file (at most max_bytes) into a string.
Result<std::string> read_whole_file(const std::string& path, uint64_t max_bytes);

// Reads and parses a JSON file (limit 512 MiB).
Result<nlohmann::json> read_json_file(const std::string& path);

bool file_exists(const std::string& path);

}  // namespace dari
