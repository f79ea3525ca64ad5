// The web pages of `dari serve` (web/: chat at "/", dashboard at "/dashboard", their scripts and
// styles at "/web/<name>"), from the copies embedded in the binary or, with --path, from a folder
// (for people who work on the pages). GET only; no key is needed for these files: they hold no
// data, and every API call the pages make is checked as usual.
//
// Thread: any (pure functions; the folder is read on each request).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dari/server/hooks.h"

namespace dari::server {

// The file a path names: "/" → "index.html", "/dashboard" → "dashboard.html", "/web/<name>" →
// "<name>" when <name> is a plain file name (letters, digits, '.', '_', '-'; no leading '.',
// nothing that could leave the folder). "" for any other path.
std::string web_file_name(std::string_view path);

struct WebFile {
  std::string content_type;
  std::string body;
  HeaderList headers;  // ETag, caching and the pages' security headers (CSP, nosniff, ...)
};

// The file `name` (from web_file_name) read from `dir`, or from the embedded copies when `dir`
// is empty; nullopt when there is no such file (or it cannot be read, or its type is unknown).
std::optional<WebFile> load_web_file(const std::string& dir, const std::string& name);

// True when the request's If-None-Match holds the file's ETag (answer 304).
bool web_not_modified(const WebFile& f, std::string_view if_none_match);

}  // namespace dari::server
