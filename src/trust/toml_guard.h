// A pre-check for policy text before toml++ parses it (see toml_guard.cpp for why).
#pragma once

#include <string>
#include <string_view>

namespace dari::trust {

// Empty when `text` is safe to hand to toml++; otherwise "LINE: what is wrong". Pure.
std::string toml_prescreen(std::string_view text);

}  // namespace dari::trust
