// `dari keys create` (the name issue 8 gives; `add` stays an alias) through the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "trust_test_util.h"

namespace dari::trust {
namespace {

int run_dari(const std::string& args, std::string* out) {
  std::string cmd = std::string(DARI_BINARY_DIR) + "/dari " + args + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The key id in the token a create command printed ("dari_<16 hex>_<secret>").
std::string key_id_of(const std::string& out) {
  size_t at = out.find("dari_");
  return at == std::string::npos || out.size() < at + 21 ? "" : out.substr(at + 5, 16);
}

TEST(TrustCli, KeysCreateAndItsAddAlias) {
  std::string dir = testing::fresh_dir();
  std::string db = " --db " + dir + "/keys.db";
  std::string created, added, list;
  ASSERT_EQ(run_dari("keys create bob --scopes infer --rpm 7" + db, &created), 0) << created;
  ASSERT_EQ(run_dari("keys add carol --scopes admin" + db, &added), 0) << added;
  const std::string bob = key_id_of(created), carol = key_id_of(added);
  ASSERT_EQ(bob.size(), 16u) << created;
  ASSERT_EQ(carol.size(), 16u) << added;
  ASSERT_EQ(run_dari("keys list" + db, &list), 0) << list;
  EXPECT_NE(list.find(bob), std::string::npos) << list;
  EXPECT_NE(list.find(carol), std::string::npos) << list;
  std::string help;
  (void)run_dari("keys --help", &help);
  EXPECT_NE(help.find("create"), std::string::npos) << help;
}

}  // namespace
}  // namespace dari::trust
