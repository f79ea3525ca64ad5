// GBNF syntax: every construct, error messages with positions, static checks and limits.
#include <gtest/gtest.h>

#include <string>

#include "dari/grammar/grammar.h"
#include "grammar_test_util.h"

namespace dari::grammar {
namespace {

using testing::full_match;
using testing::must_compile;
using testing::prefix_match;

std::string compile_error(std::string_view text, const GrammarLimits& limits = {}) {
  auto g = compile_gbnf(text, limits);
  EXPECT_FALSE(g.ok()) << "compiled:\n" << text;
  return g.ok() ? std::string() : g.message();
}

TEST(Gbnf, LiteralsAndSequences) {
  auto g = must_compile(R"(root ::= "ab" "c")");
  EXPECT_TRUE(full_match(g, "abc"));
  EXPECT_FALSE(full_match(g, "ab"));
  EXPECT_TRUE(prefix_match(g, "ab"));
  EXPECT_FALSE(prefix_match(g, "abd"));
  EXPECT_FALSE(full_match(g, "abcc"));
}

TEST(Gbnf, Alternatives) {
  auto g = must_compile(R"(root ::= "cat" | "car" | "dog")");
  EXPECT_TRUE(full_match(g, "cat"));
  EXPECT_TRUE(full_match(g, "car"));
  EXPECT_TRUE(full_match(g, "dog"));
  EXPECT_FALSE(full_match(g, "ca"));
  EXPECT_FALSE(full_match(g, "cow"));
}

TEST(Gbnf, EmptyAlternativeAndGroups) {
  auto g = must_compile(R"(root ::= "a" ( "b" | ) "c")");
  EXPECT_TRUE(full_match(g, "abc"));
  EXPECT_TRUE(full_match(g, "ac"));
  EXPECT_FALSE(full_match(g, "abbc"));
  auto e = must_compile(R"(root ::= "x" | )");
  EXPECT_TRUE(full_match(e, ""));
  EXPECT_TRUE(full_match(e, "x"));
}

TEST(Gbnf, Escapes) {
  auto g = must_compile(R"(root ::= "\n\t\r\"\\\x41\u00e9\U0001F600" [\]\[\-\^])");
  EXPECT_TRUE(full_match(g, "\n\t\r\"\\A\xC3\xA9\xF0\x9F\x98\x80]"));
  EXPECT_TRUE(full_match(g, "\n\t\r\"\\A\xC3\xA9\xF0\x9F\x98\x80-"));
  EXPECT_TRUE(full_match(g, "\n\t\r\"\\A\xC3\xA9\xF0\x9F\x98\x80^"));
  // \xHH names a code point: \xFF is U+00FF, written as UTF-8.
  auto h = must_compile(R"(root ::= "\xFF")");
  EXPECT_TRUE(full_match(h, "\xC3\xBF"));
  EXPECT_FALSE(full_match(h, "\xFF"));
}

TEST(Gbnf, RawUtf8InLiteralsAndClasses) {
  auto g = must_compile("root ::= \"é\" [α-ω]+");
  EXPECT_TRUE(full_match(g, "éαβγ"));
  EXPECT_FALSE(full_match(g, "éa"));
}

TEST(Gbnf, CharacterClasses) {
  auto g = must_compile(R"(root ::= [a-cx] [^a-z] [0-9A-F])");
  EXPECT_TRUE(full_match(g, "a!F"));
  EXPECT_TRUE(full_match(g,
                         "x\xE2\x82\xAC"
                         "0"));  // negated class takes a 3-byte character
  EXPECT_FALSE(full_match(g, "dA0"));
  EXPECT_FALSE(full_match(g, "aa0"));
  EXPECT_FALSE(full_match(g, "a!G"));
}

TEST(Gbnf, NegatedClassExcludesSurrogatesAndInvalidUtf8) {
  auto g = must_compile(R"(root ::= [^"]*)");
  EXPECT_TRUE(full_match(g, "h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(prefix_match(g, "\xED\xA0\x80"));  // encoded surrogate U+D800
  EXPECT_FALSE(prefix_match(g, "\xC0\xAF"));      // overlong
  EXPECT_FALSE(prefix_match(g, "\x80"));          // stray continuation byte
  EXPECT_FALSE(prefix_match(g, "\xF5"));          // above U+10FFFF
  EXPECT_TRUE(prefix_match(g, "\xE2\x82"));       // incomplete but valid so far
  EXPECT_FALSE(full_match(g, "\xE2\x82"));
}

TEST(Gbnf, AnyChar) {
  auto g = must_compile(R"(root ::= . . ".")");
  EXPECT_TRUE(full_match(g, "a\xE4\xB8\xAD."));
  EXPECT_TRUE(full_match(g, "\n\x01."));
  EXPECT_FALSE(full_match(g, "ab"));
}

TEST(Gbnf, Repetitions) {
  auto g = must_compile(R"(
root ::= "a"* "-" "b"+ "-" "c"? "-" "d"{2} "-" "e"{2,} "-" "f"{1,3} "-" "g"{,2}
)");
  EXPECT_TRUE(full_match(g, "-b--dd-ee-f-"));
  EXPECT_TRUE(full_match(g, "aaa-bbb-c-dd-eeeee-fff-gg"));
  EXPECT_FALSE(full_match(g, "--c-dd-ee-f-"));     // b+ needs one
  EXPECT_FALSE(full_match(g, "-b-cc-dd-ee-f-"));   // c? at most one
  EXPECT_FALSE(full_match(g, "-b--ddd-ee-f-"));    // d{2} exactly
  EXPECT_FALSE(full_match(g, "-b--dd-e-f-"));      // e{2,}
  EXPECT_FALSE(full_match(g, "-b--dd-ee-ffff-"));  // f{1,3}
  EXPECT_FALSE(full_match(g, "-b--dd-ee-f-ggg"));  // g{,2}
}

TEST(Gbnf, RepetitionOfGroups) {
  auto g = must_compile(R"(root ::= ("ab" | "c"){2,3} (("x" "y"?)+)?)");
  EXPECT_TRUE(full_match(g, "abc"));
  EXPECT_TRUE(full_match(g, "ccab"));
  EXPECT_TRUE(full_match(g, "ccxxyx"));
  EXPECT_FALSE(full_match(g, "c"));
  EXPECT_FALSE(full_match(g, "cccc"));
  EXPECT_FALSE(full_match(g, "ccyx"));
}

TEST(Gbnf, LargeRepetitionBodyBecomesRule) {
  // The body is too large to copy 1000 times; it becomes a rule of its own.
  std::string alts;
  for (int i = 0; i < 40; ++i)
    alts += (i ? " | \"" : "\"") + std::string(20, char('a' + i % 26)) + "\"";
  auto g = must_compile("root ::= (" + alts + "){0,1000}");
  ASSERT_TRUE(g);
  EXPECT_GT(g->rule_count(), 1u);
  EXPECT_TRUE(full_match(g, std::string(20, 'a') + std::string(20, 'b')));
}

TEST(Gbnf, RulesReferencesAndRecursion) {
  auto g = must_compile(R"(
# a comment line
root  ::= list            # trailing comment
list  ::= "[" items? "]"
items ::= value ("," value)*
value ::= [0-9]+ | list
)");
  EXPECT_TRUE(full_match(g, "[]"));
  EXPECT_TRUE(full_match(g, "[1,[2,[]],33]"));
  EXPECT_FALSE(full_match(g, "[1,]"));
  EXPECT_FALSE(full_match(g, "[[1]"));
  EXPECT_TRUE(prefix_match(g, "[[[[[[[[[["));
}

TEST(Gbnf, MultiLineRulesAndLeadingBars) {
  auto g = must_compile(
      "root ::=\n"
      "    \"a\"\n"
      "  | \"b\"\n"
      "  | \"c\" \"d\"\n"
      "other-rule_2 ::= \"x\"\n");
  EXPECT_TRUE(full_match(g, "a"));
  EXPECT_TRUE(full_match(g, "b"));
  EXPECT_TRUE(full_match(g, "cd"));
}

TEST(Gbnf, RightRecursionKeepsStacksFlat) {
  auto g = must_compile(R"(root ::= "a" root | "b")");
  auto m = Matcher::create(g, testing::byte_vocab());
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->accept_bytes(std::string(100000, 'a')));
  EXPECT_EQ(m->stack_count(), 1u);
  EXPECT_TRUE(m->accept_bytes("b"));
  EXPECT_TRUE(m->must_end());
}

TEST(Gbnf, SyntaxErrorsNamePositions) {
  EXPECT_NE(compile_error("root ::= \"abc").find("1:10: unterminated string literal"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= [abc").find("1:10: unterminated character class"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= (\"a\"\n").find("expected ')'"), std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\" )").find("1:14: unbalanced ')'"), std::string::npos);
  EXPECT_NE(compile_error("root = \"a\"").find("1:6: expected '::='"), std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\"\n  \"b\" ::= x").find("2:7: unexpected ':'"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= \"\\q\"").find("1:11: unknown escape '\\q'"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= \"\\x4\"").find("hex digits"), std::string::npos);
  EXPECT_NE(compile_error("root ::= \"\\uD800\"").find("surrogate"), std::string::npos);
  EXPECT_NE(compile_error("root ::= [z-a]").find("1:11: character range"), std::string::npos);
  EXPECT_NE(compile_error("root ::= []").find("empty character class"), std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\"{3,2}").find("minimum above maximum"), std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\"{}").find("needs a bound"), std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\"{2").find("expected '}'"), std::string::npos);
  EXPECT_NE(compile_error("root ::= <tok>").find("token references"), std::string::npos);
  EXPECT_NE(compile_error("root ::= \"\xFF\"").find("invalid UTF-8"), std::string::npos);
  EXPECT_NE(compile_error("root ::= @").find("1:10: unexpected '@'"), std::string::npos);
}

TEST(Gbnf, SemanticErrors) {
  EXPECT_NE(compile_error("start ::= \"a\"").find("no rule named 'root'"), std::string::npos);
  EXPECT_NE(compile_error("root ::= a b\na ::= \"x\"").find("1:12: undefined rule 'b'"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\" root").find("matches no finite string"),
            std::string::npos);
}

TEST(Gbnf, LeftRecursionRejected) {
  // Direct.
  EXPECT_NE(compile_error("root ::= root \"a\" | \"b\"").find("left recursion"), std::string::npos);
  // Indirect.
  const std::string indirect =
      compile_error("root ::= expr\nexpr ::= term \"+\" | \"x\"\nterm ::= expr \"*\" | \"y\"");
  EXPECT_NE(indirect.find("left recursion"), std::string::npos) << indirect;
  EXPECT_NE(indirect.find("'expr'"), std::string::npos) << indirect;
  EXPECT_NE(indirect.find("'term'"), std::string::npos) << indirect;
  // Through a nullable prefix.
  EXPECT_NE(compile_error("root ::= ws root \"a\" | \"b\"\nws ::= \" \"*").find("left recursion"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= opt opt root | \"b\"\nopt ::= \"x\"?").find("left recursion"),
            std::string::npos);
  // Repeating something that can be empty is not recursion (the closure handles it).
  auto star = must_compile("root ::= (\"a\"?)* opt*\nopt ::= \"b\"?");
  EXPECT_TRUE(full_match(star, "aab"));
  EXPECT_TRUE(full_match(star, ""));
  // Right recursion and recursion after a consumed byte are fine.
  must_compile("root ::= \"(\" root \")\" | \"\"");
  must_compile("root ::= ws \"x\" root | \"y\"\nws ::= \" \"*");
}

TEST(Gbnf, Limits) {
  GrammarLimits lim;
  lim.max_source_bytes = 64;
  EXPECT_NE(compile_error("root ::= \"" + std::string(100, 'a') + "\"", lim).find("over the limit"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\"{0,100000}").find("repetition bound over the limit"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= " + std::string(70, '(') + "\"a\"" + std::string(70, ')'))
                .find("nested deeper"),
            std::string::npos);
  EXPECT_NE(compile_error("root ::= \"a\"" + std::string(70, '?')).find("nested deeper"),
            std::string::npos);
  lim = GrammarLimits{};
  lim.max_rules = 3;
  EXPECT_NE(compile_error("root ::= a b c\na ::= \"a\"\nb ::= \"b\"\nc ::= \"c\"", lim)
                .find("more than 3 rules"),
            std::string::npos);
  // Many repetitions, each copied inline, pass the expansion limit.
  std::string many = "root ::= ";
  for (int i = 0; i < 2000; ++i) many += "[a-z]{400} ";
  EXPECT_NE(compile_error(many).find("too large after expanding"), std::string::npos);
  // Nested repetitions do not multiply: large bodies become rules, copied by reference.
  auto nested = must_compile("root ::= ((\"abcdefgh\"{1000}){1000}){1000}");
  ASSERT_TRUE(nested);
  EXPECT_LT(nested->state_count() + nested->edge_count(), 50000u);
  EXPECT_TRUE(prefix_match(nested, "abcdefghabcdefgh"));
}

TEST(Gbnf, DescribeListsRules) {
  auto g = must_compile("root ::= \"a\" x\nx ::= [b-c] y\ny ::= \"d\"");
  const std::string d = g->describe();
  EXPECT_NE(d.find("rule root"), std::string::npos);
  EXPECT_NE(d.find("rule x"), std::string::npos);
  EXPECT_NE(d.find("[62-63]"), std::string::npos) << d;
  // y calls nothing and is small: copied into x, never called.
  EXPECT_EQ(d.find("call y"), std::string::npos) << d;
  EXPECT_TRUE(prefix_match(g, "abd"));
}

TEST(Gbnf, LeafRulesAreCopiedButLargeRepetitionsOfThemStayCalls) {
  // A character rule of 28 ranges copied 1000 times would hold about 30000 edges: the copies
  // call it instead.
  auto g = must_compile("root ::= ch{1000}\nch ::= [acegikmoqsuwy02468ACEGIKMOQ]");
  ASSERT_TRUE(g);
  EXPECT_NE(g->describe().find("call ch"), std::string::npos);
  EXPECT_LT(g->state_count() + g->edge_count(), 5000u);
  EXPECT_TRUE(prefix_match(g, "ac2Q"));
  EXPECT_FALSE(prefix_match(g, "ab"));
  // The same rule repeated a few times is copied.
  auto small = must_compile("root ::= ch{3}\nch ::= [a-z]");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->describe().find("call"), std::string::npos) << small->describe();
}

}  // namespace
}  // namespace dari::grammar
