// The policy pre-check (src/trust/toml_guard.cpp) validates TOML syntax before toml++ 3.3 sees
// it: texts that made toml++ reach undefined behaviour (found by fuzz/fuzz_policy.cpp) are clear
// errors with line and column, and valid TOML of every shape a policy may use passes.
#include <gtest/gtest.h>

#include <string>

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
        "[audit]\ndatabase =0\"postgres\xef\xbb\xba_?sslmode=\"\n", "a = 1 \"\xc2\xa1\"\n",
        // '=' after a value, then a string with a code point toml++'s whitespace test lacks.
        "[audit]\ndatabase = 0={0=[\"post\xef\xb3\xbfgres\"\n"}) {
    auto p = parse_policy(text, "p.toml");
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_EQ(p.message().rfind("p.toml:", 0), 0u) << p.message();
  }
  auto p = parse_policy("[operator]\nname = \"x\"\n[ =a]\n", "p.toml");
  EXPECT_EQ(p.message(), "p.toml:3:3: expected a key");
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

TEST(PolicyTomlGuard, ValidTomlOfEveryShapePasses) {
  for (const char* ok : {
           "\"quoted key\" = [\n  \"a\",\"b\", { \"k\" = '\xc3\xa9' },\n]\n",
           "a.\"b\".c = \"\xec\x83\x9d\"\n[ \"t\".\"u\" ]\n[[\"v\"]]\nx = \"\"\"\n\xc3\xa9\"\"\"\n",
           "a = [\n  1,\n  2, # two\n]\nb = []\nc = {}\nd = { e = [ ] }\n",
           "n = [+1, -0, 1_000, 0xDEAD_beef, 0o755, 0b1010, 3.14, -1e-3, 6.02E+23, inf, -nan]\n",
           "t = true\r\nf = false # comment \xe2\x9c\x93\r\n",
           "s = \"tab\tand \\\"escapes\\\" \\u00e9 \\U0001F600 \\b\\f\\n\\r\\t\\\\\"\n",
           "m = \"\"\"one \"\" two\"\"\"\"\"\nl = '''it''s'''''\n",
           "\xef\xbb\xbf"
           "a = 1\n",
           "",
       }) {
    EXPECT_EQ(toml_prescreen(ok), "") << ok;
  }
}

TEST(PolicyTomlGuard, InvalidTomlIsRejectedWithLineAndColumn) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"a = 0\"\xef\xbb\xba\"\n", "1:6: expected the end of the line"},
           {"0={0=[}}", "1:7: expected a value"},
           {"a = [1,,2]\n", "1:8: expected a value"},
           {"a = {,}\n", "1:6: expected a key"},
           {"a = \n", "1:5: expected a value"},
           {"a = [\n # c\n , ]\n", "3:2: expected a value"},
           {"a = 01\n", "1:5: invalid value '01'"},
           {"a = 1__0\n", "1:5: invalid value '1__0'"},
           {"a = 1979-05-27\n", "1:5: date and time values are not used in policy files"},
           {"a = \"x\\q\"\n", "1:8: unknown escape sequence"},
           {"a = \"\\uD800\"\n", "1:7: escape is not a Unicode scalar value"},
           {"a = \"x\n", "1:7: unterminated string"},
           {"a = \"\x01\"\n", "1:6: control character (byte 1) in text"},
           {"a = \"\xc0\xaf\"\n", "1:6: invalid UTF-8"},
           {"# \xed\xa0\x80\n", "1:3: invalid UTF-8"},
           {"a = '''x''''''\n", "1:9: too many quotes at the end of a multi-line string"},
           {"\"\"\"k\"\"\" = 1\n", "1:1: a key cannot be a multi-line string"},
           {"a = 1 b = 2\n", "1:7: expected the end of the line"},
           {"a = { b = 1, }\n", "1:14: expected a key"},
           {"[a\n", "1:3: expected ']'"},
           {"[[a]\n", "1:4: expected ']]'"},
           {"a = 1\rb = 2\n", "1:6: expected the end of the line"},
       }) {
    EXPECT_EQ(toml_prescreen(c.text), c.error) << c.text;
  }
  std::string deep = "a = " + std::string(40, '[') + std::string(40, ']') + "\n";
  EXPECT_EQ(toml_prescreen(deep), "1:37: arrays or inline tables nested too deeply");
}

TEST(PolicyTomlGuard, RenderedPolicyWithQuotesAndNewlinesParsesBack) {
  Policy p = default_policy();
  p.audit_db = "x''''y\nz'''w\"v";
  p.label_en = "tab\there \xc3\xa9 '''";
  auto again = parse_policy(policy_to_toml(p), "shown.toml");
  ASSERT_TRUE(again.ok()) << again.message() << "\n" << policy_to_toml(p);
  EXPECT_EQ(again->audit_db, p.audit_db);
  EXPECT_EQ(again->label_en, p.label_en);
}

}  // namespace
}  // namespace dari::trust
