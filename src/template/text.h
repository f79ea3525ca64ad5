// Python str operations on UTF-8 strings (case mapping via utf8proc, split, replace, ...).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dari::jinja {

std::string py_upper(std::string_view s);
std::string py_lower(std::string_view s);
std::string py_title(std::string_view s);
std::string py_capitalize(std::string_view s);
// str.split(sep, maxsplit); `whitespace` selects the sep=None algorithm.
std::vector<std::string> py_split(std::string_view s, std::string_view sep, bool whitespace, int64_t maxsplit);
// str.replace(old, new, count); count < 0 replaces all. `max_bytes` bounds the result size.
std::string py_replace(std::string_view s, std::string_view from, std::string_view to, int64_t count,
                       size_t max_bytes);
bool py_is_space(uint32_t cp);
// Jinja's indent filter.
std::string jinja_indent(std::string_view s, const std::string& indention, bool first, bool blank);

}  // namespace dari::jinja
