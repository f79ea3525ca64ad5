// The web page files (web/: chat page, dashboard, scripts, styles) embedded into the binary at
// build time (cmake/EmbedFiles.cmake). The bytes are static data: they live as long as the
// program, and any thread may read them.
#pragma once

#include <span>
#include <string_view>

namespace dari::web {

struct Asset {
  std::string_view name;  // file name without folder, e.g. "chat.js"
  std::string_view body;  // the file's bytes
};

// Every embedded file, sorted by name.
std::span<const Asset> embedded_assets();

// The embedded file called `name`, or null.
const Asset* find_asset(std::string_view name);

// The content type for a file name by its extension ("" when the extension is not one the web
// pages use).
std::string_view content_type_for(std::string_view name);

}  // namespace dari::web
