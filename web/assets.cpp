// Lookups over the embedded web files (the table itself is generated: web_assets.cpp).
#include "dari/web/assets.h"

namespace dari::web {

const Asset* find_asset(std::string_view name) {
  for (const Asset& a : embedded_assets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string_view content_type_for(std::string_view name) {
  struct Type {
    std::string_view ext, type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
  };
  for (const Type& t : kTypes) {
    if (name.size() > t.ext.size() && name.substr(name.size() - t.ext.size()) == t.ext) {
      return t.type;
    }
  }
  return {};
}

}  // namespace dari::web
