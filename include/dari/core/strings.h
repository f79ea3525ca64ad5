// Small string helpers shared by several modules (formatting sizes, joining, escaping).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dari {

// printf-style formatting into a std::string.
std::string str_format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "1.50 MiB"-style human-readable byte count.
std::string human_bytes(uint64_t bytes);

// Escapes a byte string for display in an error message (non-printable bytes as \xNN), cut at
// max_len bytes with "..." appended.
std::string printable(std::string_view s, size_t max_len = 64);

std::vector<std::string> split(std::string_view s, char sep);

}  // namespace dari
