// Value <-> JSON text (Python json.dumps conventions) and UTF-8 helpers.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "template/value.h"

namespace dari::jinja {

std::vector<uint32_t> utf8_decode(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t n = 0;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      n = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      n = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      n = 4;
    }
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += n;
  }
  return out;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | ((cp >> 18) & 0x07)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

void json_escape_into(std::string& out, std::string_view s, bool ensure_ascii) {
  out.push_back('"');
  auto hex4 = [&out](uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof(b), "\\u%04x", v & 0xFFFFu);
    out += b;
  };
  if (ensure_ascii) {
    for (uint32_t cp : utf8_decode(s)) {
      if (cp >= 0x80) {
        if (cp >= 0x10000) {
          uint32_t v = cp - 0x10000;
          hex4(0xD800 | (v >> 10));
          hex4(0xDC00 | (v & 0x3FF));
        } else {
          hex4(cp);
        }
        continue;
      }
      char ch = static_cast<char>(cp);
      switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (cp < 0x20) hex4(cp); else out.push_back(ch);
      }
    }
  } else {
    for (char ch : s) {
      switch (ch) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (static_cast<unsigned char>(ch) < 0x20) hex4(static_cast<unsigned char>(ch));
          else out.push_back(ch);
      }
    }
  }
  out.push_back('"');
}

static void json_newline(std::string& out, const Value::JsonOptions& opt, int level) {
  if (opt.indent < 0) return;
  out.push_back('\n');
  out.append(static_cast<size_t>(opt.indent) * static_cast<size_t>(level), ' ');
}

void Value::json_into(std::string& out, const JsonOptions& opt, int level) const {
  if (level > kMaxValueDepth) fail("value nested too deeply for tojson");
  switch (kind_) {
    case Kind::kNone: out += "null"; return;
    case Kind::kBool: out += b_ ? "true" : "false"; return;
    case Kind::kInt: out += std::to_string(i_); return;
    case Kind::kFloat:
      if (std::isnan(f_)) out += "NaN";
      else if (std::isinf(f_)) out += f_ < 0 ? "-Infinity" : "Infinity";
      else out += format_python_float(f_);
      return;
    case Kind::kString: json_escape_into(out, s_, opt.ensure_ascii); return;
    case Kind::kArray: {
      if (arr_->generator) fail("Object of type generator is not JSON serializable");
      if (arr_->items.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t i = 0; i < arr_->items.size(); ++i) {
        if (i) out += opt.item_sep;
        json_newline(out, opt, level + 1);
        arr_->items[i].json_into(out, opt, level + 1);
      }
      json_newline(out, opt, level);
      out.push_back(']');
      return;
    }
    case Kind::kObject: {
      if (obj_->kind != ObjectKind::kDict)
        fail(std::string("Object of type ") + type_name() + " is not JSON serializable");
      if (obj_->items.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : obj_->items) items.push_back(&kv);
      if (opt.sort_keys)
        std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out.push_back('{');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += opt.item_sep;
        json_newline(out, opt, level + 1);
        json_escape_into(out, items[i]->first, opt.ensure_ascii);
        out += opt.key_sep;
        items[i]->second.json_into(out, opt, level + 1);
      }
      json_newline(out, opt, level);
      out.push_back('}');
      return;
    }
    case Kind::kUndefined: fail("Object of type Undefined is not JSON serializable");
    case Kind::kFunction: fail("Object of type function is not JSON serializable");
  }
}

std::string Value::to_json(const JsonOptions& opt) const {
  std::string out;
  json_into(out, opt, 0);
  return out;
}

Json Value::to_json_value(int depth) const {
  if (depth > kMaxValueDepth) fail("value nested too deeply for JSON");
  switch (kind_) {
    case Kind::kNone: return nullptr;
    case Kind::kBool: return b_;
    case Kind::kInt: return i_;
    case Kind::kFloat: return f_;
    case Kind::kString: return s_;
    case Kind::kArray: {
      Json j = Json::array();
      for (const auto& v : arr_->items) j.push_back(v.to_json_value(depth + 1));
      return j;
    }
    case Kind::kObject: {
      Json j = Json::object();
      for (const auto& [k, v] : obj_->items) j[k] = v.to_json_value(depth + 1);
      return j;
    }
    default: fail(std::string("Object of type ") + type_name() + " is not JSON serializable");
  }
}

}  // namespace dari::jinja
