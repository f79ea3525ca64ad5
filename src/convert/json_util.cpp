#include "convert/json_util.h"

#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "dari/core/strings.h"

namespace dari {
namespace {

// Maximum bracket nesting outside string literals (a cheap pre-pass so a hostile document cannot
// drive the parser or the value tree arbitrarily deep).
int max_depth(std::string_view s) {
  int depth = 0;
  int max = 0;
  bool in_str = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_str = false;
      }
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) max = depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

}  // namespace

Result<nlohmann::json> parse_json_limited(std::string_view text, const std::string& what) {
  if (max_depth(text) > kMaxJsonDepth) {
    return make_error(str_format("%s: JSON nested deeper than %d levels", what.c_str(),
                                 kMaxJsonDepth));
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return make_error(what + ": invalid JSON: " + e.what());
  }
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> read_whole_file(const std::string& path, uint64_t max_bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return make_error(path + ": cannot open");
  std::string out;
  char buf[65536];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, f.get());
    if (n == 0) break;
    if (out.size() + n > max_bytes) {
      return make_error(path + ": file larger than " + human_bytes(max_bytes));
    }
    out.append(buf, n);
  }
  if (std::ferror(f.get())) return make_error(path + ": read error");
  return out;
}

Result<nlohmann::json> read_json_file(const std::string& path) {
  DARI_ASSIGN_OR_RETURN(std::string text, read_whole_file(path, 512ull << 20));
  return parse_json_limited(text, path);
}

}  // namespace dari
