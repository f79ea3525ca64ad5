// `dari keys init|create|revoke|list` (`add` is an alias of `create`): the operator signing key
// and hashed API keys. With --policy, key changes are audited as "admin" rows (actor "cli:$USER")
// when the policy audits.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "command.h"
#include "dari/trust/trust.h"

namespace {

using dari::trust::Policy;

struct KeysArgs {
  std::string action, policy, db, key_file, name, scopes = "infer", key_id;
  int64_t rpm = -1, tpd = -1;
  bool json = false;
};

bool resolve(const KeysArgs& a, Policy* p) {
  *p = dari::trust::default_policy();
  if (!a.policy.empty()) {
    auto loaded = dari::trust::load_policy(a.policy);
    if (!loaded.ok()) {
      std::fprintf(stderr, "dari: policy error: %s\n", loaded.message().c_str());
      return false;
    }
    *p = std::move(*loaded);
  }
  if (!a.db.empty()) p->keys_db = a.db;
  if (!a.key_file.empty()) p->signing_key_file = a.key_file;
  return true;
}

// Only with --policy: the built-in policy's relative audit file would land in the cwd.
void audit_admin(const KeysArgs& a, const Policy& p, nlohmann::json detail) {
  if (!p.audit || a.policy.empty()) return;
  auto log = dari::trust::AuditLog::open(p.audit_db, p);
  if (!log.ok()) {
    std::fprintf(stderr, "dari: warning: not audited: %s\n", log.message().c_str());
    return;
  }
  const char* user = std::getenv("USER");
  detail["actor"] = std::string("cli:") + (user != nullptr ? user : "unknown");
  auto s = (*log)->append("admin", detail.dump());
  if (!s.ok()) std::fprintf(stderr, "dari: warning: not audited: %s\n", s.message().c_str());
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "dari: error: %s\n", msg.c_str());
  return 1;
}

int run_init(const Policy& p) {
  if (std::filesystem::exists(p.signing_key_file)) {
    auto k = dari::trust::SigningKey::load(p.signing_key_file);
    if (!k.ok()) return fail(k.message());
    std::printf("signing key %s already exists (key id %s); not replaced\npublic key %s\n",
                p.signing_key_file.c_str(), k->key_id().c_str(), k->public_key_base64().c_str());
    return 0;
  }
  auto k = dari::trust::SigningKey::generate();
  if (!k.ok()) return fail(k.message());
  auto s = k->save(p.signing_key_file);
  if (!s.ok()) return fail(s.message());
  std::printf("wrote %s (mode 0600) and %s.pub\nkey id %s\npublic key %s\n",
              p.signing_key_file.c_str(), p.signing_key_file.c_str(), k->key_id().c_str(),
              k->public_key_base64().c_str());
  return 0;
}

int run_keys(const KeysArgs& a) {
  Policy p;
  if (!resolve(a, &p)) return 1;
  if (a.action == "init") return run_init(p);
  auto store = dari::trust::KeyStore::open(p.keys_db);
  if (!store.ok()) return fail(store.message());
  if (a.action == "add") {
    auto scopes = dari::trust::parse_scopes(a.scopes);
    if (!scopes.ok()) return fail(scopes.message());
    dari::trust::KeyInfo info;
    info.name = a.name;
    info.scopes = *scopes;
    info.requests_per_minute = a.rpm >= 0 ? a.rpm : p.default_requests_per_minute;
    info.tokens_per_day = a.tpd >= 0 ? a.tpd : p.default_tokens_per_day;
    auto token = (*store)->create(info);
    if (!token.ok()) return fail(token.message());
    std::string id = token->substr(5, 16);
    audit_admin(a, p,
                {{"action", "create_key"},
                 {"key_id", id},
                 {"name", a.name},
                 {"scopes", dari::trust::scopes_to_string(info.scopes)}});
    std::printf("%s\n", token->c_str());
    std::fprintf(stderr, "key id %s; the key above is shown once and stored only as a hash\n",
                 id.c_str());
    return 0;
  }
  if (a.action == "revoke") {
    auto s = (*store)->revoke(a.key_id, std::time(nullptr) * int64_t{1000});
    if (!s.ok()) return fail(s.message());
    audit_admin(a, p, {{"action", "revoke_key"}, {"key_id", a.key_id}});
    std::printf("revoked %s\n", a.key_id.c_str());
    return 0;
  }
  auto keys = (*store)->list();
  if (!keys.ok()) return fail(keys.message());
  nlohmann::json arr = nlohmann::json::array();
  if (!a.json)
    std::printf("%-16s  %-20s  %-20s  %8s  %12s  %s\n", "KEY ID", "NAME", "SCOPES", "REQ/MIN",
                "TOKENS/DAY", "STATE");
  for (const auto& k : *keys) {
    std::string scopes = dari::trust::scopes_to_string(k.scopes);
    if (a.json) {
      arr.push_back({{"key_id", k.key_id},
                     {"name", k.name},
                     {"scopes", scopes},
                     {"requests_per_minute", k.requests_per_minute},
                     {"tokens_per_day", k.tokens_per_day},
                     {"created_ms", k.created_ms},
                     {"revoked_ms", k.revoked_ms}});
    } else {
      std::printf("%-16s  %-20s  %-20s  %8lld  %12lld  %s\n", k.key_id.c_str(), k.name.c_str(),
                  scopes.c_str(), static_cast<long long>(k.requests_per_minute),
                  static_cast<long long>(k.tokens_per_day), k.revoked_ms ? "revoked" : "active");
    }
  }
  if (a.json) std::printf("%s\n", arr.dump(2).c_str());
  return 0;
}

std::function<int()> setup_keys(CLI::App& sub) {
  auto a = std::make_shared<KeysArgs>();
  sub.require_subcommand(1);
  sub.add_option("--policy", a->policy, "deployment policy (default: built-in policy)");
  auto add_db = [a](CLI::App* c) {
    c->add_option("--db", a->db, "API key database (default: the policy's [keys].database)");
  };
  CLI::App* init = sub.add_subcommand("init", "Create the operator's Ed25519 signing key (0600)");
  init->add_option("--key", a->key_file, "key file (default: [disclosure].signing_key_file)");
  init->callback([a] { a->action = "init"; });
  CLI::App* add = sub.add_subcommand("create", "Create an API key (printed once; alias: add)");
  add->alias("add");
  add->add_option("name", a->name, "a name for the key's holder")->required();
  add->add_option("--scopes", a->scopes, "comma list of infer, admin, metrics");
  add->add_option("--rpm", a->rpm, "requests per minute (0 = unlimited; default from policy)");
  add->add_option("--tokens-per-day", a->tpd, "token quota per day (0 = unlimited)");
  add_db(add);
  add->callback([a] { a->action = "add"; });
  CLI::App* revoke = sub.add_subcommand("revoke", "Revoke an API key by its id");
  revoke->add_option("key_id", a->key_id, "the key id (16 hex, from `dari keys list`)")->required();
  add_db(revoke);
  revoke->callback([a] { a->action = "revoke"; });
  CLI::App* list = sub.add_subcommand("list", "List API keys (never their secrets)");
  list->add_flag("--json", a->json, "print JSON");
  add_db(list);
  list->callback([a] { a->action = "list"; });
  return [a]() { return run_keys(*a); };
}

}  // namespace

DARI_COMMAND("keys", "Operator signing key and API keys: init, create, revoke, list", setup_keys);
