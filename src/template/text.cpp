// Python str operations (see text.h).
#include "template/text.h"

#include <utf8proc.h>

#include "template/value.h"

namespace dari::jinja {
namespace {

bool is_cased(uint32_t cp) {
  auto c = static_cast<int32_t>(cp);
  return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c ||
         utf8proc_category(c) == UTF8PROC_CATEGORY_LT;
}

template <class F>
std::string map_cps(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  for (uint32_t cp : utf8_decode(s)) utf8_append(out, static_cast<uint32_t>(f(static_cast<int32_t>(cp))));
  return out;
}

}  // namespace

bool py_is_space(uint32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
         (cp >= 0x1c && cp <= 0x1f) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000;
}

std::string py_upper(std::string_view s) { return map_cps(s, utf8proc_toupper); }
std::string py_lower(std::string_view s) { return map_cps(s, utf8proc_tolower); }

std::string py_title(std::string_view s) {
  std::string out;
  bool prev_cased = false;
  for (uint32_t cp : utf8_decode(s)) {
    auto c = static_cast<int32_t>(cp);
    int32_t m = prev_cased ? utf8proc_tolower(c) : utf8proc_totitle(c);
    utf8_append(out, static_cast<uint32_t>(m));
    prev_cased = is_cased(cp);
  }
  return out;
}

std::string py_capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (uint32_t cp : utf8_decode(s)) {
    auto c = static_cast<int32_t>(cp);
    utf8_append(out, static_cast<uint32_t>(first ? utf8proc_totitle(c) : utf8proc_tolower(c)));
    first = false;
  }
  return out;
}

std::vector<std::string> py_split(std::string_view s, std::string_view sep, bool whitespace, int64_t maxsplit) {
  std::vector<std::string> out;
  if (whitespace) {
    std::vector<uint32_t> cps = utf8_decode(s);
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && py_is_space(cps[i])) ++i;
      if (i >= cps.size()) break;
      std::string word;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
        size_t e = cps.size();
        while (e > i && py_is_space(cps[e - 1])) --e;
        for (size_t k = i; k < e; ++k) utf8_append(word, cps[k]);
        out.push_back(std::move(word));
        break;
      }
      while (i < cps.size() && !py_is_space(cps[i])) utf8_append(word, cps[i++]);
      out.push_back(std::move(word));
    }
    return out;
  }
  if (sep.empty()) fail("empty separator");
  size_t pos = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    size_t f = s.find(sep, pos);
    if (f == std::string_view::npos) break;
    out.emplace_back(s.substr(pos, f - pos));
    pos = f + sep.size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

std::string py_replace(std::string_view s, std::string_view from, std::string_view to, int64_t count,
                       size_t max_bytes) {
  std::string out;
  auto check = [&]() {
    if (out.size() > max_bytes) fail("replace() result exceeds the string size limit");
  };
  if (from.empty()) {
    // Python inserts `to` between every character (and at both ends).
    std::vector<uint32_t> cps = utf8_decode(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      if (i < cps.size()) utf8_append(out, cps[i]);
      check();
    }
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t f = s.find(from, pos);
    if (f == std::string_view::npos) break;
    out.append(s.substr(pos, f - pos));
    out.append(to);
    check();
    pos = f + from.size();
    ++done;
  }
  out.append(s.substr(pos));
  check();
  return out;
}

std::string jinja_indent(std::string_view s, const std::string& indention, bool first, bool blank) {
  // Jinja appends "\n" then uses str.splitlines(); we split on \n, \r\n and \r.
  std::string text(s);
  text += "\n";
  std::vector<std::string> lines;
  std::string cur;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n' || c == '\r') {
      lines.push_back(cur);
      cur.clear();
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv += "\n" + indention;
      rv += lines[i];
    }
  } else if (!lines.empty()) {
    rv = lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += "\n";
      if (!lines[i].empty()) rv += indention;
      rv += lines[i];
    }
  }
  if (first) rv = indention + rv;
  return rv;
}

}  // namespace dari::jinja
