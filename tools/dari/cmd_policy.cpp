// `dari policy check FILE` (validate a deployment policy) and `dari policy show [FILE]` (print
// the effective policy, the default one without FILE). The work is in dari_trust.
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "dari/trust/trust.h"

namespace {

struct PolicyArgs {
  std::string file;
  std::string action;
};

int run_policy(const PolicyArgs& a) {
  dari::trust::Policy p = dari::trust::default_policy();
  if (!a.file.empty()) {
    auto loaded = dari::trust::load_policy(a.file);
    if (!loaded.ok()) {
      std::fprintf(stderr, "dari: policy error: %s\n", loaded.message().c_str());
      return 1;
    }
    p = std::move(*loaded);
  }
  if (a.action == "show") {
    std::fputs(dari::trust::policy_to_toml(p).c_str(), stdout);
    return 0;
  }
  for (const std::string& w : dari::trust::policy_warnings(p)) {
    std::fprintf(stderr, "dari: policy warning: %s\n", w.c_str());
  }
  std::printf("%s: OK (operator \"%s\", deployment \"%s\", domain \"%s\"%s)\n", a.file.c_str(),
              p.operator_name.c_str(), p.deployment_id.c_str(), p.domain.c_str(),
              p.high_impact ? ", high-impact" : "");
  return 0;
}

std::function<int()> setup_policy(CLI::App& sub) {
  auto args = std::make_shared<PolicyArgs>();
  sub.require_subcommand(1);
  CLI::App* check = sub.add_subcommand("check", "Validate a policy file (exit 1 with the error)");
  check->add_option("file", args->file, "policy TOML file")->required();
  check->callback([args] { args->action = "check"; });
  CLI::App* show = sub.add_subcommand("show", "Print the effective policy (default without FILE)");
  show->add_option("file", args->file, "policy TOML file");
  show->callback([args] { args->action = "show"; });
  return [args]() { return run_policy(*args); };
}

}  // namespace

DARI_COMMAND("policy", "Deployment policy: check a file, show the effective policy", setup_policy);
