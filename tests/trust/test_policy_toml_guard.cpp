// Policy texts that made toml++ 3.3 assert (found by fuzz/fuzz_policy.cpp) are clear errors,
// and the pre-check does not reject valid TOML that merely looks like them.
#include <gtest/gtest.h>

#include "trust/toml_guard.h"
#include "trust_test_util.h"

namespace dari::trust {
namespace {

TEST(PolicyTomlGuard, InputsThatBreakTheTomlParserAreErrors) {
  for (const char* text :
       {"[\x7f"
        "disclosure]\n",
        "[operator]\nname = \"x\"\n[ =a]\n", "[[#x]]\n", "\xc2\xa0[+]\n", "[operato\xd0\x9e]\n",
        "a = 1\xd0\x9e\n", "[disclosure]\nlabel_ko = \"\"\"x\\\n  \xc3\xa9\"\"\"\n",
        "[disclosure]\nlabel_ko = \"\"\"x\\\xc3\xa9\"\"\"\n",
        // A quote right after a value: toml++ reads on through the would-be string.
        "[audit]\ndatabase =0\"postgres\xef\xbb\xba_?sslmode=\"\n", "a = 1 \"\xc2\xa1\"\n"}) {
    auto p = parse_policy(text, "p.toml");
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.message().rfind("p.toml:", 0), 0u) << p.message();
  }
  auto p = parse_policy("[operator]\nname = \"x\"\n[ =a]\n", "p.toml");
  EXPECT_NE(p.message().find("p.toml:3: a table header must start with a key name"),
            std::string::npos)
      << p.message();
}

TEST(PolicyTomlGuard, BracketsInsideStringsCommentsAndValuesAreFine) {
  const char* text =
      "# [=comment] \xd0\x9e \xe2\x80\xa8[=]\n"
      "[disclosure]\n"
      "label_ko = \"\"\"\n[생성] 인공지능\n[=x] \\\n  end\"\"\"\n"
      "label_en = '''\n[+en]'''\n"
      "[ \"operator\" ]\n"
      "name = \"[=not a header]\"\n";
  auto p = parse_policy(text, "p.toml");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->label_ko, "[생성] 인공지능\n[=x] end");
  EXPECT_EQ(p->label_en, "[+en]");
  EXPECT_EQ(p->operator_name, "[=not a header]");
}

// Strings may open wherever TOML allows one: keys, values, arrays, inline tables, headers.
TEST(PolicyTomlGuard, QuotesWhereStringsMayStartPass) {
  EXPECT_EQ(
      toml_prescreen(
          "\"quoted key\" = [\n  \"a\",\"b\", { \"k\" = '\xc3\xa9' },\n]\n"
          "a.\"b\".c = \"\xec\x83\x9d\"\n[ \"t\".\"u\" ]\n[[\"v\"]]\nx = \"\"\"\n\xc3\xa9\"\"\"\n"),
      "");
  EXPECT_NE(toml_prescreen("a = 0\"\xef\xbb\xba\"\n"), "");
  // Missing values that toml++ asserts on instead of reporting.
  for (const char* bad :
       {"0={0=[}}", "a = [1,,2]\n", "a = {,}\n", "a = \n", "a = [\n # c\n , ]\n"}) {
    EXPECT_NE(toml_prescreen(bad), "") << bad;
  }
  EXPECT_EQ(toml_prescreen("a = [\n  1,\n  2, # two\n]\nb = []\nc = {}\nd = { e = [ ] }\n"), "");
}

}  // namespace
}  // namespace dari::trust
