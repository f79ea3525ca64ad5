#include <gtest/gtest.h>

#include "trust_test_util.h"

namespace dari::trust {
namespace {

using testing::fresh_dir;
using testing::spit;

TEST(Policy, DefaultIsSensible) {
  Policy p = default_policy();
  EXPECT_TRUE(p.disclosure);
  EXPECT_TRUE(p.audit);
  EXPECT_EQ(p.require_keys, KeyRequirement::kNonLoopback);
  EXPECT_EQ(p.store_prompts, ContentStorage::kHash);
  EXPECT_FALSE(p.label_ko.empty());
  EXPECT_FALSE(p.label_en.empty());
  EXPECT_TRUE(parse_policy("", "empty.toml").ok());
}

TEST(Policy, ParsesEveryTable) {
  auto p = parse_policy(R"(
[operator]
name = "Example Bank"
deployment_id = "loan-assist-1"
domain = "lending"
high_impact = true
[disclosure]
label = "append"
label_language = "both"
[audit]
store_outputs = "full"
retention_days = 90
explanation_top_k = 3
[keys]
require = "always"
requests_per_minute = 30
tokens_per_day = 5000
[incidents]
auth_failures_per_minute = 3
webhook = "http://ops.example/hook"
)",
                        "bank.toml");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->operator_name, "Example Bank");
  EXPECT_TRUE(p->high_impact);
  EXPECT_TRUE(p->explanations);  // switched on by high_impact
  EXPECT_EQ(p->label_placement, LabelPlacement::kAppend);
  EXPECT_EQ(p->store_outputs, ContentStorage::kFull);
  EXPECT_EQ(p->retention_days, 90);
  EXPECT_EQ(p->require_keys, KeyRequirement::kAlways);
  EXPECT_EQ(p->default_tokens_per_day, 5000);
  EXPECT_EQ(p->auth_failures_per_minute, 3);
  EXPECT_EQ(p->incident_webhook, "http://ops.example/hook");
}

TEST(Policy, ErrorsNameFileTableAndKey) {
  auto unknown = parse_policy("[audit]\nretension_days = 3\n", "p.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("p.toml: [audit].retension_days: unknown key"),
            std::string::npos)
      << unknown.message();
  auto type = parse_policy("[audit]\nretention_days = \"long\"\n", "p.toml");
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.message().find("[audit].retention_days: must be an integer"), std::string::npos);
  auto range = parse_policy("[audit]\nretention_days = -1\n", "p.toml");
  ASSERT_FALSE(range.ok());
  EXPECT_NE(range.message().find("between 0 and"), std::string::npos);
  auto en = parse_policy("[keys]\nrequire = \"sometimes\"\n", "p.toml");
  ASSERT_FALSE(en.ok());
  EXPECT_NE(en.message().find("\"sometimes\" is not one of"), std::string::npos);
  auto table = parse_policy("[auditing]\n", "p.toml");
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.message().find("unknown table"), std::string::npos);
  auto syntax = parse_policy("[audit\n", "p.toml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.message().rfind("p.toml:1:", 0), 0u) << syntax.message();
}

TEST(Policy, HighImpactNeedsAudit) {
  auto p = parse_policy("[operator]\nhigh_impact = true\n[audit]\nenabled = false\n", "h.toml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.message().find("[audit].enabled"), std::string::npos);
}

TEST(Policy, RoundTripsThroughToml) {
  Policy p = default_policy();
  p.operator_name = "운영자 \"quoted\"";
  p.label_placement = LabelPlacement::kPrepend;
  p.retention_days = 30;
  p.require_keys = KeyRequirement::kAlways;
  auto back = parse_policy(policy_to_toml(p), "rt.toml");
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->operator_name, p.operator_name);
  EXPECT_EQ(back->label_placement, LabelPlacement::kPrepend);
  EXPECT_EQ(back->retention_days, 30);
  EXPECT_EQ(back->require_keys, KeyRequirement::kAlways);
  EXPECT_EQ(back->label_ko, p.label_ko);
}

TEST(Policy, LoadResolvesRelativePathsAgainstTheFile) {
  std::string dir = fresh_dir();
  spit(dir + "/policy.toml", "[audit]\ndatabase = \"a.db\"\n");
  auto p = load_policy(dir + "/policy.toml");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->audit_db, dir + "/a.db");
  EXPECT_FALSE(load_policy(dir + "/missing.toml").ok());
}

TEST(Policy, LabelsPerLanguageAndPlacement) {
  Policy p = default_policy();
  EXPECT_EQ(apply_label(p, "hi"), "hi");  // placement none
  p.label_placement = LabelPlacement::kAppend;
  EXPECT_EQ(apply_label(p, "hi"), "hi\n\n" + p.label_ko);
  p.label_language = "en";
  p.label_placement = LabelPlacement::kPrepend;
  EXPECT_EQ(apply_label(p, "hi"), p.label_en + "\n\nhi");
  p.label_language = "both";
  EXPECT_NE(label_text(p).find(p.label_ko), std::string::npos);
  EXPECT_NE(label_text(p).find(p.label_en), std::string::npos);
}

}  // namespace
}  // namespace dari::trust
