// JSON Schema -> GBNF (see include/dari/grammar/json_schema.h for what is supported).
//
// Every object, array, alternative set and bounded string becomes a rule named after its JSON
// pointer, so rule bodies stay shallow (GBNF nesting limits) and the shared value rules (string,
// number, whitespace) stay separate rules whose masks the matcher caches across positions.
// $ref targets are converted once, from a work list, so recursive schemas become recursive rules
// and native recursion here follows only the nesting of the schema document (bounded by
// max_depth, measured before anything else).
#include "dari/grammar/json_schema.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dari/core/strings.h"
#include "grammar/json_schema_rules.h"

namespace dari::grammar {
namespace {

using detail::annotation_keywords;
using detail::gbnf_literal;
using detail::kJsonChar;
using detail::pointer_escape;
using detail::unsupported_keywords;

template <class Json>
class Converter {
 public:
  Converter(const Json& root, const SchemaOptions& o) : root_(root), o_(o) {
    for (const char* n : detail::shared_json_rule_names()) names_.insert(n);
  }

  Result<std::string> run() {
    DARI_TRY(measure());
    DARI_ASSIGN_OR_RETURN(std::string root_expr, visit(root_, "", 0));
    while (!pending_.empty()) {
      Pending p = pending_.front();
      pending_.pop_front();
      DARI_ASSIGN_OR_RETURN(const Json* target, resolve(p.ref, p.from));
      DARI_ASSIGN_OR_RETURN(std::string body, visit(*target, p.ref.substr(1), 0));
      set_rule(p.rule, body);
    }
    common("ws");
    std::string out = "root ::= ws " + root_expr + " ws\n";
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

 private:
  struct Pending {
    std::string ref;   // "#..."
    std::string from;  // pointer of the $ref
    std::string rule;
  };

  Error err(const std::string& ptr, const std::string& what) const {
    return make_error("json schema at " + (ptr.empty() ? std::string("/") : ptr) + ": " + what);
  }

  // Size and depth of the whole document, stopping as soon as a limit is passed.
  Status measure() {
    struct Frame {
      const Json* j;
      typename Json::const_iterator it;
      size_t index;
    };
    size_t bytes = 0;
    std::vector<Frame> stack;
    std::vector<std::string> path;
    auto enter = [&](const Json& j) -> Status {
      bytes += 8;
      if (j.is_string()) bytes += j.template get_ref<const typename Json::string_t&>().size();
      if (bytes > o_.max_schema_bytes) {
        return make_error(
            str_format("json schema: larger than the limit of %zu bytes", o_.max_schema_bytes));
      }
      if (j.is_object() || j.is_array()) {
        if (stack.size() >= o_.max_depth) {
          std::string ptr;
          for (const std::string& p : path) ptr += "/" + pointer_escape(p);
          return err(ptr, str_format("nested deeper than %u", o_.max_depth));
        }
        stack.push_back(Frame{&j, j.cbegin(), 0});
      }
      return Status::Ok();
    };
    DARI_TRY(enter(root_));
    while (!stack.empty()) {
      Frame& f = stack.back();
      if (f.it == f.j->cend()) {
        stack.pop_back();
        if (!path.empty()) path.pop_back();
        continue;
      }
      const Json& child = *f.it;
      if (f.j->is_object()) {
        path.push_back(f.it.key());
        bytes += f.it.key().size();
      } else {
        path.push_back(std::to_string(f.index));
      }
      ++f.it;
      ++f.index;
      const size_t before = stack.size();
      DARI_TRY(enter(child));
      if (stack.size() == before) path.pop_back();
    }
    schema_bytes_ = bytes;
    return Status::Ok();
  }

  // A rule name from a hint (usually a JSON pointer): its last 40 name characters, made unique
  // with a counter per base name.
  std::string unique_name(const std::string& hint) {
    std::string base;
    for (char c : hint) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (ok) {
        base += c;
      } else if (!base.empty() && base.back() != '-') {
        base += '-';
      }
    }
    if (base.size() > 40) base = base.substr(base.size() - 40);
    while (!base.empty() && base.front() == '-') base.erase(base.begin());
    while (!base.empty() && base.back() == '-') base.pop_back();
    if (base.empty()) base = "schema";
    std::string name = base;
    uint32_t& counter = name_counters_[base];
    while (names_.count(name) != 0) name = base + "-" + std::to_string(++counter + 1);
    names_.insert(name);
    return name;
  }

  std::string add_rule(const std::string& hint, const std::string& body) {
    std::string name = unique_name(hint);
    set_rule(name, body);
    return name;
  }
  void set_rule(const std::string& name, const std::string& body) {
    out_bytes_ += name.size() + body.size() + 6;
    rules_[name] = body;
  }
  // Output and merge copies may grow to a few times the schema's own size.
  size_t budget() const { return (size_t{1} << 20) + 8 * schema_bytes_; }

  // Shared rules, added on first use.
  std::string common(const std::string& name) {
    if (rules_.count(name) != 0) return name;
    detail::SharedRule r = detail::shared_json_rule(name, o_);
    set_rule(name, r.body);  // before the rules it uses: they may refer back to it
    for (const char* used : r.uses) common(used);
    return name;
  }

  Result<std::string> literal(const Json& value, const std::string& ptr) const {
    try {
      return gbnf_literal(value.dump(-1, ' ', false, Json::error_handler_t::strict));
    } catch (const std::exception&) {
      return err(ptr, "value is not valid UTF-8");
    }
  }

  Status check_keywords(const Json& s, const std::string& ptr) const {
    if (o_.permissive) return Status::Ok();
    for (auto it = s.cbegin(); it != s.cend(); ++it) {
      if (unsupported_keywords().count(it.key()) != 0) {
        return err(ptr + "/" + pointer_escape(it.key()),
                   "'" + it.key() + "' is not supported (SchemaOptions::permissive ignores it)");
      }
    }
    return Status::Ok();
  }

  // Keys of `s` that constrain values (not annotations, not definitions).
  static bool has_constraints_besides(const Json& s, std::initializer_list<const char*> skip) {
    for (auto it = s.cbegin(); it != s.cend(); ++it) {
      bool skipped = annotation_keywords().count(it.key()) != 0;
      for (const char* k : skip) skipped = skipped || it.key() == k;
      if (!skipped) return true;
    }
    return false;
  }

  Result<const Json*> resolve(const std::string& ref, const std::string& from) const {
    if (ref.empty() || ref[0] != '#') {
      return err(from, "$ref '" + ref + "' is not supported (only local '#...' references)");
    }
    const Json* cur = &root_;
    if (ref.size() == 1) return cur;
    if (ref[1] != '/') {
      return err(from, "$ref '" + ref + "': anchors are not supported, use a JSON pointer");
    }
    size_t i = 2;
    while (true) {
      const size_t slash = ref.find('/', i);
      const std::string raw =
          ref.substr(i, slash == std::string::npos ? std::string::npos : slash - i);
      std::string tok;
      for (size_t k = 0; k < raw.size(); ++k) {
        if (raw[k] == '~' && k + 1 < raw.size() && (raw[k + 1] == '0' || raw[k + 1] == '1')) {
          tok += raw[k + 1] == '0' ? '~' : '/';
          ++k;
        } else if (raw[k] == '%' && k + 2 < raw.size() &&
                   std::isxdigit(static_cast<unsigned char>(raw[k + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(raw[k + 2]))) {
          tok += static_cast<char>(std::stoi(raw.substr(k + 1, 2), nullptr, 16));
          k += 2;
        } else {
          tok += raw[k];
        }
      }
      if (cur->is_object()) {
        auto it = cur->find(tok);
        if (it == cur->end()) return err(from, "unresolvable $ref '" + ref + "'");
        cur = &*it;
      } else if (cur->is_array()) {
        if (tok.empty() || tok.size() > 9 ||
            !std::all_of(tok.begin(), tok.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return err(from, "unresolvable $ref '" + ref + "'");
        }
        const size_t idx = std::stoul(tok);
        if (idx >= cur->size()) return err(from, "unresolvable $ref '" + ref + "'");
        cur = &(*cur)[idx];
      } else {
        return err(from, "unresolvable $ref '" + ref + "'");
      }
      if (slash == std::string::npos) break;
      i = slash + 1;
    }
    return cur;
  }

  Result<std::string> ref_rule(const std::string& ref, const std::string& from) {
    auto it = ref_rules_.find(ref);
    if (it != ref_rules_.end()) return it->second;
    // Check it now, so the error names the pointer where the $ref is.
    DARI_TRY(resolve(ref, from));
    const size_t slash = ref.rfind('/');
    const std::string hint = slash == std::string::npos ? "root-ref" : ref.substr(slash + 1);
    std::string name = unique_name(hint);
    ref_rules_[ref] = name;
    set_rule(name, "\"\"");  // body filled in from the work list
    pending_.push_back(Pending{ref, from, name});
    return name;
  }

  // Follows $ref (with sibling constraints merged in) to a plain schema.
  Result<Json> deref(const Json& s, const std::string& ptr) const {
    Json cur = s;
    for (int hop = 0; hop < 32; ++hop) {
      if (!cur.is_object()) return cur;
      auto r = cur.find("$ref");
      if (r == cur.end()) return cur;
      if (!r->is_string()) return err(ptr, "$ref must be a string");
      DARI_ASSIGN_OR_RETURN(const Json* target, resolve(r->template get<std::string>(), ptr));
      Json rest = cur;
      rest.erase("$ref");
      if (!has_constraints_besides(rest, {})) {
        cur = *target;
        continue;
      }
      Json parts = Json::array();
      parts.push_back(*target);
      parts.push_back(rest);
      Json merged = Json::object();
      merged["allOf"] = parts;
      return merged;
    }
    return err(ptr, "$ref chain longer than 32");
  }

  static std::vector<std::string> type_list(const Json& t) {
    std::vector<std::string> out;
    if (t.is_string()) out.push_back(t.template get<std::string>());
    if (t.is_array()) {
      for (const Json& x : t) {
        if (x.is_string()) out.push_back(x.template get<std::string>());
      }
    }
    return out;
  }

  // allOf: object keywords merged, other keywords must agree.
  Status merge_into(Json& out, const Json& part_in, const std::string& ptr, int depth) const {
    if (depth > static_cast<int>(o_.max_depth)) return err(ptr, "allOf nested too deeply");
    DARI_ASSIGN_OR_RETURN(Json part, deref(part_in, ptr));
    if (part.is_boolean()) {
      if (part.template get<bool>()) return Status::Ok();
      return err(ptr, "allOf contains 'false': the schema matches nothing");
    }
    if (!part.is_object()) return err(ptr, "allOf entries must be schemas");
    DARI_TRY(check_keywords(part, ptr));
    for (auto it = part.cbegin(); it != part.cend(); ++it) {
      const std::string& k = it.key();
      const Json& v = it.value();
      if (annotation_keywords().count(k) != 0) continue;
      if (k == "allOf") {
        if (!v.is_array()) return err(ptr + "/allOf", "must be an array");
        for (const Json& sub : v) DARI_TRY(merge_into(out, sub, ptr + "/allOf", depth + 1));
      } else if (k == "properties") {
        if (!v.is_object()) return err(ptr + "/properties", "must be an object");
        if (!out.contains("properties")) out["properties"] = Json::object();
        Json& props = out["properties"];
        for (auto p = v.cbegin(); p != v.cend(); ++p) {
          if (props.contains(p.key()) && props[p.key()] != p.value()) {
            Json both = Json::array();
            both.push_back(props[p.key()]);
            both.push_back(p.value());
            Json m = Json::object();
            m["allOf"] = both;
            props[p.key()] = m;
          } else {
            props[p.key()] = p.value();
          }
        }
      } else if (k == "required") {
        if (!v.is_array()) return err(ptr + "/required", "must be an array");
        if (!out.contains("required")) out["required"] = Json::array();
        for (const Json& name : v) {
          Json& req = out["required"];
          if (std::find(req.begin(), req.end(), name) == req.end()) req.push_back(name);
        }
      } else if (k == "type") {
        std::vector<std::string> mine = type_list(v);
        if (out.contains("type")) {
          std::vector<std::string> theirs = type_list(out["type"]), both;
          for (const std::string& t : mine) {
            const bool in = std::find(theirs.begin(), theirs.end(), t) != theirs.end() ||
                            (t == "integer" &&
                             std::find(theirs.begin(), theirs.end(), "number") != theirs.end());
            if (in) both.push_back(t);
          }
          for (const std::string& t : theirs) {
            if (t == "integer" && std::find(mine.begin(), mine.end(), "number") != mine.end() &&
                std::find(both.begin(), both.end(), t) == both.end()) {
              both.push_back(t);
            }
          }
          if (both.empty()) return err(ptr + "/type", "allOf: the types do not intersect");
          Json arr = Json::array();
          for (const std::string& t : both) arr.push_back(t);
          out["type"] = arr;
        } else {
          out["type"] = v;
        }
      } else if (k == "additionalProperties") {
        if (!out.contains(k) || (v.is_boolean() && !v.template get<bool>())) {
          out[k] = v;
        } else if (out[k].is_boolean()) {
          if (out[k].template get<bool>()) out[k] = v;
        } else if (!v.is_boolean() && out[k] != v) {
          Json both = Json::array();
          both.push_back(out[k]);
          both.push_back(v);
          Json m = Json::object();
          m["allOf"] = both;
          out[k] = m;
        }
      } else if (out.contains(k) && out[k] != v) {
        return err(ptr + "/" + pointer_escape(k),
                   "allOf: conflicting values of '" + k + "' cannot be combined");
      } else {
        out[k] = v;
      }
    }
    return Status::Ok();
  }

  Result<std::string> visit(const Json& s, const std::string& ptr, uint32_t depth) {
    if (depth > o_.max_depth + 8) return err(ptr, "schema nested too deeply");
    if (++visits_ > kMaxVisits) {
      return err(ptr, str_format("schema expands into more than %u subschemas", kMaxVisits));
    }
    if (out_bytes_ > budget()) {
      return err(ptr, str_format("schema expands into a grammar of more than %zu bytes", budget()));
    }
    if (s.is_boolean()) {
      if (s.template get<bool>()) return common("json-value");
      return err(ptr, "schema 'false' matches nothing");
    }
    if (!s.is_object()) return err(ptr, "a schema must be an object or a boolean");
    DARI_TRY(check_keywords(s, ptr));

    if (auto r = s.find("$ref"); r != s.end()) {
      if (!r->is_string()) return err(ptr + "/$ref", "must be a string");
      Json rest = s;
      rest.erase("$ref");
      if (!has_constraints_besides(rest, {})) return ref_rule(r->template get<std::string>(), ptr);
      Json parts = Json::array();
      Json only_ref = Json::object();
      only_ref["$ref"] = *r;
      parts.push_back(only_ref);
      parts.push_back(rest);
      Json merged = Json::object();
      DARI_TRY(merge_into(merged, Json{{"allOf", parts}}, ptr, 0));
      DARI_TRY(charge(merged));
      return visit(merged, ptr, depth + 1);
    }
    if (auto a = s.find("allOf"); a != s.end()) {
      if (!a->is_array()) return err(ptr + "/allOf", "must be an array");
      Json merged = Json::object();
      DARI_TRY(merge_into(merged, s, ptr, 0));
      DARI_TRY(charge(merged));
      return visit(merged, ptr + "/allOf", depth + 1);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      auto a = s.find(key);
      if (a == s.end()) continue;
      const std::string aptr = ptr + "/" + key;
      if (!a->is_array() || a->empty()) return err(aptr, "must be a non-empty array");
      Json rest = s;
      rest.erase(key);
      const bool merge = has_constraints_besides(rest, {});
      std::string body;
      for (size_t i = 0; i < a->size(); ++i) {
        const std::string bptr = aptr + "/" + std::to_string(i);
        std::string alt;
        if (merge) {
          Json merged = Json::object();
          DARI_TRY(merge_into(merged, rest, ptr, 0));
          DARI_TRY(merge_into(merged, (*a)[i], bptr, 0));
          DARI_TRY(charge(merged));
          DARI_ASSIGN_OR_RETURN(alt, visit(merged, bptr, depth + 1));
        } else {
          DARI_ASSIGN_OR_RETURN(alt, visit((*a)[i], bptr, depth + 1));
        }
        body += (i == 0 ? "" : " | ") + alt;
      }
      return add_rule(ptr.empty() ? "root-alt" : ptr, body);
    }
    if (auto c = s.find("const"); c != s.end()) return literal(*c, ptr + "/const");
    if (auto e = s.find("enum"); e != s.end()) {
      if (!e->is_array() || e->empty()) return err(ptr + "/enum", "must be a non-empty array");
      if (e->size() > o_.max_enum_values) {
        return err(ptr + "/enum", str_format("more than %u values", o_.max_enum_values));
      }
      std::string body;
      for (size_t i = 0; i < e->size(); ++i) {
        DARI_ASSIGN_OR_RETURN(std::string lit, literal((*e)[i], ptr + "/enum"));
        body += (i == 0 ? "" : " | ") + lit;
      }
      if (e->size() == 1) return body;
      return add_rule(ptr.empty() ? "root-enum" : ptr, body);
    }

    std::vector<std::string> types;
    if (auto t = s.find("type"); t != s.end()) {
      if (!t->is_string() && !t->is_array()) return err(ptr + "/type", "must be a string or array");
      types = type_list(*t);
      if (types.empty()) return err(ptr + "/type", "no type given");
    } else if (s.contains("properties") || s.contains("additionalProperties") ||
               s.contains("required")) {
      types = {"object"};
    } else if (s.contains("items") || s.contains("prefixItems") || s.contains("minItems") ||
               s.contains("maxItems") || s.contains("additionalItems")) {
      types = {"array"};
    } else if (s.contains("minLength") || s.contains("maxLength") || s.contains("format")) {
      types = {"string"};
    } else {
      return common("json-value");
    }
    if (auto n = s.find("nullable"); n != s.end() && n->is_boolean() && n->template get<bool>()) {
      if (std::find(types.begin(), types.end(), "null") == types.end()) types.push_back("null");
    }
    std::string body;
    for (size_t i = 0; i < types.size(); ++i) {
      DARI_ASSIGN_OR_RETURN(std::string alt, typed(s, types[i], ptr, depth));
      body += (i == 0 ? "" : " | ") + alt;
    }
    if (types.size() == 1) return body;
    return add_rule(ptr.empty() ? "root-types" : ptr, body);
  }

  // minimum >= 0 (or exclusiveMinimum >= 0) rules out a sign.
  static bool non_negative(const Json& s) {
    for (const char* k : {"minimum", "exclusiveMinimum"}) {
      auto it = s.find(k);
      if (it != s.end() && it->is_number() && it->template get<double>() >= 0) return true;
    }
    return false;
  }

  Result<uint32_t> count_keyword(const Json& s, const char* key, const std::string& ptr,
                                 uint32_t fallback) const {
    auto it = s.find(key);
    if (it == s.end()) return fallback;
    if (!it->is_number_integer() && !it->is_number_unsigned()) {
      return err(ptr + "/" + key, "must be a non-negative integer");
    }
    if (it->is_number_integer() && it->template get<int64_t>() < 0) {
      return err(ptr + "/" + key, "must be a non-negative integer");
    }
    const uint64_t v = it->template get<uint64_t>();
    if (v > o_.max_items) {
      return err(ptr + "/" + key, str_format("%llu is over the supported limit of %u",
                                             static_cast<unsigned long long>(v), o_.max_items));
    }
    return static_cast<uint32_t>(v);
  }

  Result<std::string> typed(const Json& s, const std::string& type, const std::string& ptr,
                            uint32_t depth) {
    if (type == "string") return string_expr(s, ptr);
    if (type == "number") return common(non_negative(s) ? "json-number-nonneg" : "json-number");
    if (type == "integer") return common(non_negative(s) ? "json-integer-nonneg" : "json-integer");
    if (type == "boolean") return common("json-boolean");
    if (type == "null") return common("json-null");
    if (type == "object") return object_expr(s, ptr, depth);
    if (type == "array") return array_expr(s, ptr, depth);
    return err(ptr + "/type", "unknown type '" + type + "'");
  }

  Result<std::string> string_expr(const Json& s, const std::string& ptr) {
    if (auto f = s.find("format"); f != s.end() && f->is_string()) {
      const std::string fmt = f->template get<std::string>();
      if (fmt == "date") return common("json-date");
      if (fmt == "time") return common("json-time");
      if (fmt == "date-time") return common("json-date-time");
      if (fmt == "uuid") return common("json-uuid");
      if (fmt == "email") return common("json-email");
    }
    DARI_ASSIGN_OR_RETURN(uint32_t lo, count_keyword(s, "minLength", ptr, 0));
    DARI_ASSIGN_OR_RETURN(uint32_t hi, count_keyword(s, "maxLength", ptr, UINT32_MAX));
    if (lo == 0 && hi == UINT32_MAX) return common("json-string");
    if (hi != UINT32_MAX && lo > hi) return err(ptr, "minLength is above maxLength");
    const std::string rep =
        hi == UINT32_MAX ? str_format("{%u,}", lo) : str_format("{%u,%u}", lo, hi);
    return add_rule(ptr.empty() ? "root-string" : ptr,
                    std::string("\"\\\"\" ( ") + kJsonChar + " )" + rep + " \"\\\"\"");
  }

  Result<std::string> object_expr(const Json& s, const std::string& ptr, uint32_t depth) {
    struct Member {
      std::string key;
      std::string value;
      bool required;
    };
    std::vector<std::string> required;
    if (auto r = s.find("required"); r != s.end()) {
      if (!r->is_array()) return err(ptr + "/required", "must be an array of strings");
      for (const Json& n : *r) {
        if (!n.is_string()) return err(ptr + "/required", "must be an array of strings");
        required.push_back(n.template get<std::string>());
      }
    }
    std::vector<Member> members;
    std::set<std::string> listed;
    if (auto p = s.find("properties"); p != s.end()) {
      if (!p->is_object()) return err(ptr + "/properties", "must be an object");
      for (auto it = p->cbegin(); it != p->cend(); ++it) {
        const std::string pptr = ptr + "/properties/" + pointer_escape(it.key());
        DARI_ASSIGN_OR_RETURN(std::string key, literal(Json(it.key()), pptr));
        DARI_ASSIGN_OR_RETURN(std::string value, visit(it.value(), pptr, depth + 1));
        const bool req = std::find(required.begin(), required.end(), it.key()) != required.end();
        members.push_back(Member{key, value, req});
        listed.insert(it.key());
      }
    }
    for (const std::string& name : required) {
      if (listed.count(name) != 0) continue;
      DARI_ASSIGN_OR_RETURN(std::string key, literal(Json(name), ptr + "/required"));
      members.push_back(Member{key, common("json-value"), true});
      listed.insert(name);
    }
    // Extra properties.
    std::string extra;
    if (auto a = s.find("additionalProperties"); a != s.end()) {
      if (a->is_boolean()) {
        if (a->template get<bool>()) extra = common("json-value");
      } else {
        DARI_ASSIGN_OR_RETURN(extra, visit(*a, ptr + "/additionalProperties", depth + 1));
      }
    } else if (!o_.strict) {
      extra = common("json-value");
    }
    if (members.empty() && extra == "json-value") return common("json-object");

    const std::string hint = ptr.empty() ? "root-object" : ptr;
    auto member_text = [&](const Member& m) { return m.key + " ws \":\" ws " + m.value + " ws"; };
    std::string extra_member;
    if (!extra.empty()) {
      extra_member =
          add_rule(hint + "-extra", common("json-string") + " ws \":\" ws " + extra + " ws");
    }
    const bool all_required =
        std::all_of(members.begin(), members.end(), [](const Member& m) { return m.required; });
    std::string body;
    if (all_required) {
      for (size_t i = 0; i < members.size(); ++i) {
        body += (i == 0 ? "" : " \",\" ws ") + member_text(members[i]);
      }
      if (!extra.empty()) {
        body += members.empty() ? "( " + extra_member + " ( \",\" ws " + extra_member + " )* )?"
                                : " ( \",\" ws " + extra_member + " )*";
      }
      return add_rule(hint, "\"{\" ws " + body + " \"}\"");
    }
    // first_i: members i.. when none was written yet; rest_i: when one was (so "," first).
    std::string rest_next = extra.empty() ? "" : "( \",\" ws " + extra_member + " )*";
    std::string first_next =
        extra.empty() ? "" : "( " + extra_member + " ( \",\" ws " + extra_member + " )* )?";
    for (size_t k = members.size(); k-- > 0;) {
      const std::string m = member_text(members[k]);
      std::string rest_body, first_body;
      if (members[k].required) {
        rest_body = "\",\" ws " + m + " " + rest_next;
        first_body = m + " " + rest_next;
      } else {
        rest_body =
            "\",\" ws " + m + " " + rest_next + " | " + (rest_next.empty() ? "\"\"" : rest_next);
        first_body = m + " " + rest_next + " | " + (first_next.empty() ? "\"\"" : first_next);
      }
      rest_next = add_rule(hint + "-rest", rest_body);
      first_next = add_rule(hint + "-first", first_body);
    }
    return add_rule(hint, "\"{\" ws " + first_next + " \"}\"");
  }

  Result<std::string> array_expr(const Json& s, const std::string& ptr, uint32_t depth) {
    DARI_ASSIGN_OR_RETURN(uint32_t lo, count_keyword(s, "minItems", ptr, 0));
    DARI_ASSIGN_OR_RETURN(uint32_t hi, count_keyword(s, "maxItems", ptr, UINT32_MAX));
    if (hi != UINT32_MAX && lo > hi) return err(ptr, "minItems is above maxItems");
    // prefixItems (2020-12) or items: [...] (draft 7) fix the first elements.
    const Json* prefix = nullptr;
    std::string prefix_ptr;
    const Json* rest = nullptr;  // schema of the other elements; nullptr: any value
    bool rest_allowed = true;
    std::string rest_ptr;
    if (auto p = s.find("prefixItems"); p != s.end()) {
      if (!p->is_array()) return err(ptr + "/prefixItems", "must be an array");
      prefix = &*p;
      prefix_ptr = ptr + "/prefixItems";
      if (auto it = s.find("items"); it != s.end()) {
        rest = &*it;
        rest_ptr = ptr + "/items";
      }
    } else if (auto it = s.find("items"); it != s.end()) {
      if (it->is_array()) {
        prefix = &*it;
        prefix_ptr = ptr + "/items";
        if (auto ai = s.find("additionalItems"); ai != s.end()) {
          rest = &*ai;
          rest_ptr = ptr + "/additionalItems";
        }
      } else {
        rest = &*it;
        rest_ptr = ptr + "/items";
      }
    }
    if (rest != nullptr && rest->is_boolean() && !rest->template get<bool>()) {
      rest_allowed = false;
      rest = nullptr;
    }
    if (prefix != nullptr && o_.strict && rest == nullptr && !s.contains("items") &&
        !s.contains("additionalItems")) {
      rest_allowed = false;  // strict tuples: exactly the listed elements
    }
    std::string rest_expr;
    if (rest_allowed) {
      if (rest != nullptr) {
        DARI_ASSIGN_OR_RETURN(rest_expr, visit(*rest, rest_ptr, depth + 1));
      } else {
        rest_expr = common("json-value");
      }
    }
    const std::string hint = ptr.empty() ? "root-array" : ptr;
    auto bounds = [](uint32_t a, uint32_t b) {
      return b == UINT32_MAX ? str_format("{%u,}", a) : str_format("{%u,%u}", a, b);
    };
    const uint32_t k = prefix == nullptr ? 0 : static_cast<uint32_t>(prefix->size());
    if (k == 0) {
      if (hi == 0 || !rest_allowed) {
        if (lo > 0) return err(ptr, "minItems cannot be met: no elements are allowed");
        return add_rule(hint, "\"[\" ws \"]\"");
      }
      const std::string item = rest_expr + " ws";
      const uint32_t more_hi = hi == UINT32_MAX ? UINT32_MAX : hi - 1;
      const uint32_t more_lo = lo == 0 ? 0 : lo - 1;
      std::string body = item + " ( \",\" ws " + item + " )" + bounds(more_lo, more_hi);
      if (lo == 0) body = "( " + body + " )?";
      return add_rule(hint, "\"[\" ws " + body + " \"]\"");
    }
    const uint32_t kk = std::min(k, hi);
    std::vector<std::string> elems;
    for (uint32_t i = 0; i < kk; ++i) {
      DARI_ASSIGN_OR_RETURN(std::string e,
                            visit((*prefix)[i], prefix_ptr + "/" + std::to_string(i), depth + 1));
      elems.push_back(e);
    }
    std::string tail;
    if (rest_allowed && hi > kk) {
      const uint32_t t_lo = lo > kk ? lo - kk : 0;
      const uint32_t t_hi = hi == UINT32_MAX ? UINT32_MAX : hi - kk;
      tail = "( \",\" ws " + rest_expr + " ws )" + bounds(t_lo, t_hi);
    } else if (lo > kk) {
      return err(ptr, "minItems cannot be met with the listed elements");
    }
    // cont_i: element i (1-based) and what follows; optional once minItems is met.
    std::string after = tail;
    for (uint32_t i = kk; i >= 1; --i) {
      std::string body = (i == 1 ? "" : "\",\" ws ") + elems[i - 1] + " ws " + after;
      if (i > lo) body = "( " + body + " )?";
      after = add_rule(hint + "-item", body);
    }
    return add_rule(hint, "\"[\" ws " + after + " \"]\"");
  }

  // Merging (allOf, anyOf with siblings) copies subschemas; copies are charged to a budget.
  Status charge(const Json& j) {
    std::vector<const Json*> stack{&j};
    while (!stack.empty()) {
      const Json* cur = stack.back();
      stack.pop_back();
      merge_bytes_ += 8;
      if (cur->is_string()) {
        merge_bytes_ += cur->template get_ref<const typename Json::string_t&>().size();
      }
      if (merge_bytes_ > budget()) {
        return make_error("json schema: allOf/anyOf merging expands the schema too much");
      }
      if (cur->is_object() || cur->is_array()) {
        for (auto it = cur->cbegin(); it != cur->cend(); ++it) stack.push_back(&*it);
      }
    }
    return Status::Ok();
  }

  static constexpr uint32_t kMaxVisits = 50000;
  const Json& root_;
  const SchemaOptions& o_;
  uint32_t visits_ = 0;
  size_t merge_bytes_ = 0;
  size_t out_bytes_ = 0;
  size_t schema_bytes_ = 0;  // measured size of the document
  std::map<std::string, std::string> rules_;
  std::set<std::string> names_;
  std::map<std::string, uint32_t> name_counters_;
  std::map<std::string, std::string> ref_rules_;
  std::deque<Pending> pending_;
};

template <class Json>
Result<std::string> to_gbnf(const Json& schema, const SchemaOptions& options) {
  Converter<Json> c(schema, options);
  return c.run();
}

template <class Json>
Result<std::shared_ptr<const Grammar>> compile_schema(const Json& schema,
                                                      const SchemaOptions& options,
                                                      const GrammarLimits& limits) {
  DARI_ASSIGN_OR_RETURN(std::string text, to_gbnf(schema, options));
  GrammarLimits lim = limits;
  lim.max_source_bytes = std::max(lim.max_source_bytes, text.size());
  return compile_gbnf(text, lim);
}

}  // namespace

Result<std::string> json_schema_to_gbnf(const nlohmann::json& schema,
                                        const SchemaOptions& options) {
  return to_gbnf(schema, options);
}
Result<std::string> json_schema_to_gbnf(const nlohmann::ordered_json& schema,
                                        const SchemaOptions& options) {
  return to_gbnf(schema, options);
}

std::string any_json_object_gbnf(uint32_t max_whitespace) {
  SchemaOptions o;
  o.max_whitespace = max_whitespace;
  o.strict = false;
  nlohmann::json schema = {{"type", "object"}};
  auto r = to_gbnf(schema, o);
  DARI_CHECK(r.ok());
  return std::move(r).value();
}

Result<std::shared_ptr<const Grammar>> compile_json_schema(const nlohmann::json& schema,
                                                           const SchemaOptions& options,
                                                           const GrammarLimits& limits) {
  return compile_schema(schema, options, limits);
}
Result<std::shared_ptr<const Grammar>> compile_json_schema(const nlohmann::ordered_json& schema,
                                                           const SchemaOptions& options,
                                                           const GrammarLimits& limits) {
  return compile_schema(schema, options, limits);
}

}  // namespace dari::grammar
