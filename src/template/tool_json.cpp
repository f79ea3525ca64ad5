// JSON helpers of the tool-call parsers: bracket matching for text still arriving, call object
// normalisation, Llama built-in call syntax, call ids.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>

#include "template/output_scanner.h"

namespace dari::tool_parse {

using nlohmann::ordered_json;

std::string_view trim(std::string_view s) {
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const size_t last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == ':';
}

Match match_at(std::string_view text, std::string_view literal) {
  if (text.size() >= literal.size()) {
    return text.substr(0, literal.size()) == literal ? Match::kYes : Match::kNo;
  }
  return literal.substr(0, text.size()) == text ? Match::kPartial : Match::kNo;
}

size_t partial_suffix(std::string_view text, std::string_view marker) {
  if (marker.empty()) return 0;
  size_t k = std::min(text.size(), marker.size() - 1);
  for (; k > 0; --k) {
    if (text.substr(text.size() - k) == marker.substr(0, k)) return k;
  }
  return 0;
}

JsonScan scan_json_resume(std::string_view s, JsonScanState& st, size_t* length) {
  if (st.result != JsonScan::kIncomplete) {
    *length = st.length;
    return st.result;
  }
  if (st.pos == 0 && (s.empty() || (s.front() != '{' && s.front() != '['))) {
    st.result = s.empty() ? JsonScan::kIncomplete : JsonScan::kInvalid;
    return st.result;
  }
  for (; st.pos < s.size(); ++st.pos) {
    const char c = s[st.pos];
    if (st.in_string) {
      if (st.escaped) {
        st.escaped = false;
      } else if (c == '\\') {
        st.escaped = true;
      } else if (c == '"') {
        st.in_string = false;
      }
      continue;
    }
    if (c == '"') {
      st.in_string = true;
    } else if (c == '{') {
      st.closers.push_back('}');
    } else if (c == '[') {
      st.closers.push_back(']');
    } else if (c == '}' || c == ']') {
      if (st.closers.back() != c) return st.result = JsonScan::kInvalid;
      st.closers.pop_back();
      if (st.closers.empty()) {
        st.length = *length = st.pos + 1;
        return st.result = JsonScan::kComplete;
      }
    }
    if (st.closers.size() > kMaxJsonDepth) return st.result = JsonScan::kInvalid;
  }
  return JsonScan::kIncomplete;
}

JsonScan scan_json_value(std::string_view s, size_t* length) {
  JsonScanState state;
  return scan_json_resume(s, state, length);
}

std::optional<ordered_json> parse_json(std::string_view text) {
  try {
    ordered_json value = ordered_json::parse(text.begin(), text.end(), nullptr,
                                             /*allow_exceptions=*/false);
    if (value.is_discarded()) return std::nullopt;
    return value;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string compact_json(const ordered_json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, ordered_json::error_handler_t::replace);
}

bool valid_function_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u)) continue;  // UTF-8 names pass byte by byte
    if (std::string_view("_-.:/@$").find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::optional<ordered_json> parse_bounded_json(std::string_view text) {
  const std::string_view body = trim(text);
  if (body.empty() || (body.front() != '{' && body.front() != '[')) return std::nullopt;
  size_t length = 0;
  if (scan_json_value(body, &length) != JsonScan::kComplete || length != body.size()) {
    return std::nullopt;
  }
  return parse_json(body);
}

std::optional<std::string> arguments_object(std::string_view text) {
  auto value = parse_bounded_json(text);
  if (!value || !value->is_object()) return std::nullopt;
  return compact_json(*value);
}

std::optional<std::string_view> strip_fence(std::string_view text) {
  std::string_view t = trim(text);
  if (t.substr(0, 3) != "```") return t;
  const size_t newline = t.find('\n');
  if (newline == std::string_view::npos) return std::nullopt;
  const std::string_view lang = trim(t.substr(3, newline - 3));
  if (!lang.empty() && lang != "json") return std::nullopt;
  t = t.substr(newline + 1);
  if (t.size() < 3 || t.substr(t.size() - 3) != "```") return std::nullopt;
  return trim(t.substr(0, t.size() - 3));
}

bool calls_from_json_list(const ordered_json& value, std::vector<ToolCall>* calls) {
  if (value.is_object()) {
    auto call = call_from_json(value, /*require_arguments=*/false);
    if (!call) return false;
    calls->push_back(std::move(*call));
    return true;
  }
  if (!value.is_array() || value.empty()) return false;
  for (const auto& item : value) {
    auto call = call_from_json(item, /*require_arguments=*/false);
    if (!call) return false;
    calls->push_back(std::move(*call));
  }
  return true;
}

std::optional<std::string> arguments_from_json(const ordered_json& value) {
  if (value.is_object()) return compact_json(value);
  if (value.is_string()) {
    return arguments_object(value.get_ref<const std::string&>());
  }
  return std::nullopt;
}

std::optional<ToolCall> call_from_json(const ordered_json& value, bool require_arguments) {
  if (!value.is_object()) return std::nullopt;
  const ordered_json* call = &value;
  const auto function = value.find("function");
  if (function != value.end() && function->is_object()) call = &*function;  // OpenAI's shape

  const auto name = call->find("name");
  if (name == call->end() || !name->is_string()) return std::nullopt;
  ToolCall out;
  out.name = name->get<std::string>();
  if (!valid_function_name(out.name)) return std::nullopt;

  auto args = call->find("arguments");
  if (args == call->end()) args = call->find("parameters");
  if (args == call->end() || args->is_null()) {
    if (require_arguments) return std::nullopt;
    out.arguments = "{}";
  } else {
    auto text = arguments_from_json(*args);
    if (!text) return std::nullopt;
    out.arguments = std::move(*text);
  }
  const auto id = value.find("id");
  if (id != value.end() && id->is_string()) out.id = id->get<std::string>();
  return out;
}

namespace {

bool is_ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool is_ident(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

class BuiltinCallReader {
 public:
  explicit BuiltinCallReader(std::string_view s) : s_(s) {}

  std::optional<ToolCall> read() {
    const std::string name = ident();
    if (name.empty() || !literal(".call(")) return std::nullopt;
    ordered_json args = ordered_json::object();
    skip_space();
    if (!literal(")")) {
      for (;;) {
        skip_space();
        const std::string key = ident();
        skip_space();
        if (key.empty() || !literal("=")) return std::nullopt;
        skip_space();
        auto v = value();
        if (!v) return std::nullopt;
        args[key] = std::move(*v);
        skip_space();
        if (literal(")")) break;
        if (!literal(",")) return std::nullopt;
      }
    }
    skip_space();
    if (pos_ != s_.size()) return std::nullopt;
    return ToolCall{"", name, compact_json(args)};
  }

 private:
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  bool literal(std::string_view t) {
    if (s_.substr(pos_, t.size()) != t) return false;
    pos_ += t.size();
    return true;
  }
  std::string ident() {
    if (pos_ >= s_.size() || !is_ident_start(s_[pos_])) return {};
    const size_t start = pos_;
    while (pos_ < s_.size() && is_ident(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  std::optional<ordered_json> value() {
    if (pos_ >= s_.size()) return std::nullopt;
    const char c = s_[pos_];
    if (c == '"' || c == '\'') return string_value(c);
    if (literal("True")) return ordered_json(true);
    if (literal("False")) return ordered_json(false);
    if (literal("None")) return ordered_json(nullptr);
    const size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' ||
            s_[pos_] == '+' || s_[pos_] == '.' || s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
    }
    if (start == pos_) return std::nullopt;
    auto number = parse_json(s_.substr(start, pos_ - start));
    if (!number || !number->is_number()) return std::nullopt;
    return number;
  }
  std::optional<ordered_json> string_value(char quote) {
    ++pos_;
    std::string out;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == quote) return ordered_json(std::move(out));
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return std::nullopt;
      const char e = s_[pos_++];
      switch (e) {
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        default:
          out.push_back(e);
          break;  // \\, \", \' and anything else: the character
      }
    }
    return std::nullopt;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::optional<ToolCall> parse_builtin_call(std::string_view text) {
  return BuiltinCallReader(trim(text)).read();
}

std::string make_call_id(uint64_t seed, size_t index, bool mistral) {
  static constexpr std::string_view kAlnum =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t state = seed ^ (0xD1B54A32D192ED03ull * (static_cast<uint64_t>(index) + 1));
  std::string id = mistral ? "" : "call_";
  const size_t size = id.size() + (mistral ? 9 : 24);
  uint64_t bits = 0;
  int left = 0;
  while (id.size() < size) {
    if (left == 0) {
      bits = splitmix64(state);
      left = 10;  // 62^10 < 2^64
    }
    id.push_back(kAlnum[bits % kAlnum.size()]);
    bits /= kAlnum.size();
    --left;
  }
  return id;
}

}  // namespace dari::tool_parse
