// `dari verify RESPONSE` or `dari verify --text FILE --provenance FILE`: check a signed
// provenance offline. Exit 0 when intact, 1 when altered or unverifiable.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "command.h"
#include "dari/trust/trust.h"

namespace {

struct VerifyArgs {
  std::string response, text, provenance, public_key;
};

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int run_verify(const VerifyArgs& a) {
  std::string text;
  dari::trust::Provenance prov;
  if (!a.response.empty()) {
    std::string saved;
    if (!read_file(a.response, &saved)) {
      std::fprintf(stderr, "dari: error: %s: cannot read\n", a.response.c_str());
      return 1;
    }
    auto got = dari::trust::extract_saved_response(saved);
    if (!got.ok()) {
      std::fprintf(stderr, "dari: error: %s: %s\n", a.response.c_str(), got.message().c_str());
      return 1;
    }
    text = std::move(got->first);
    prov = std::move(got->second);
  } else {
    std::string ptext;
    if (a.text.empty() || a.provenance.empty() || !read_file(a.text, &text) ||
        !read_file(a.provenance, &ptext)) {
      std::fprintf(stderr, "dari: error: give RESPONSE, or readable --text and --provenance\n");
      return 1;
    }
    auto p = dari::trust::provenance_from_json(ptext);
    if (!p.ok()) {
      std::fprintf(stderr, "dari: error: %s: %s\n", a.provenance.c_str(), p.message().c_str());
      return 1;
    }
    prov = std::move(*p);
  }
  std::string trusted;
  if (!a.public_key.empty()) {
    auto k = dari::trust::load_public_key_base64(a.public_key);
    if (!k.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", k.message().c_str());
      return 1;
    }
    trusted = *k;
  }
  dari::trust::VerifyOutcome v = dari::trust::verify_provenance(prov, text, trusted);
  if (!v.intact) {
    std::printf("ALTERED: %s\n", v.reason.c_str());
    return 1;
  }
  std::printf("INTACT: %s\n  model %s (sha256 %s)\n  request %s, operator \"%s\", deployment %s\n",
              v.reason.c_str(), prov.facts.model.c_str(), prov.facts.model_sha256.c_str(),
              prov.facts.request_id.c_str(), prov.operator_name.c_str(),
              prov.deployment_id.c_str());
  return 0;
}

std::function<int()> setup_verify(CLI::App& sub) {
  auto args = std::make_shared<VerifyArgs>();
  sub.add_option("response", args->response,
                 "saved response: JSON (choices + provenance) or SSE transcript");
  sub.add_option("--text", args->text, "file holding the delivered text (with --provenance)");
  sub.add_option("--provenance", args->provenance, "file holding the provenance JSON");
  sub.add_option("--public-key", args->public_key,
                 "trusted operator key: .pub PEM, private PEM or base64 (else the embedded key)");
  return [args]() { return run_verify(*args); };
}

}  // namespace

DARI_COMMAND("verify", "Check a response's signed provenance offline (intact or altered)",
             setup_verify);
